#!/usr/bin/python3
"""Trains the compute example: a PyTorch MLP with 3.4 million weights on scikit-learn's bundled 8x8 digits.

The model is heavy enough per request (about 13 MB of weights read for every row) that running requests one at a
time is memory-bound, while a batch reuses every weight it loads: this is the example where dynamic batching pays.

Writes, next to this script (or into OUT_DIR):
  model.onnx   input "pixels" float32 [batch, 64] (intensities 0..16, row-major 8x8), output "probabilities"
               float32 [batch, 10], exported with torch.onnx.export and a dynamic batch axis
  train.csv    the training split (64 pixel columns p0..p63 and the label), for `mlship baseline`
  test.csv     the held-out split, same columns
Reproducible: fixed seeds, one thread, deterministic algorithms. Offline: load_digits ships with scikit-learn.
    /usr/bin/python3 train.py [OUT_DIR]      (Debian: python3-torch python3-sklearn python3-onnx)
"""
import csv
import sys

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

out = sys.argv[1] if len(sys.argv) > 1 else "."
torch.manual_seed(0)
np.random.seed(0)
torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)


class DigitsMLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(64, 3072),
            torch.nn.ReLU(),
            torch.nn.Linear(3072, 1024),
            torch.nn.ReLU(),
            torch.nn.Linear(1024, 10),
        )

    def forward(self, pixels):
        # Scaling lives in the graph, so clients send the raw 0..16 intensities.
        return torch.softmax(self.net(pixels / 16.0), dim=1)

    def logits(self, pixels):
        return self.net(pixels / 16.0)


model = DigitsMLP()
Xt = torch.tensor(X_train, dtype=torch.float32)
yt = torch.tensor(y_train, dtype=torch.long)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
generator = torch.Generator().manual_seed(0)
for epoch in range(15):
    order = torch.randperm(len(Xt), generator=generator)
    for start in range(0, len(Xt), 64):
        idx = order[start : start + 64]
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model.logits(Xt[idx]), yt[idx])
        loss.backward()
        optimizer.step()

model.eval()
with torch.no_grad():
    test_acc = (model(torch.tensor(X_test, dtype=torch.float32)).argmax(1).numpy() == y_test).mean()
    train_acc = (model(Xt).argmax(1).numpy() == y_train).mean()
params = sum(p.numel() for p in model.parameters())

torch.onnx.export(
    model,
    torch.zeros(1, 64),
    f"{out}/model.onnx",
    input_names=["pixels"],
    output_names=["probabilities"],
    dynamic_axes={"pixels": {0: "batch"}, "probabilities": {0: "batch"}},
    opset_version=13,
)

for name, data, labels in (("train", X_train, y_train), ("test", X_test, y_test)):
    with open(f"{out}/{name}.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([f"p{i}" for i in range(64)] + ["label"])
        for row, label in zip(data, labels):
            writer.writerow([int(v) for v in row] + [int(label)])

print(f"weights {params}, train accuracy {train_acc:.4f}, test accuracy {test_acc:.4f}")
