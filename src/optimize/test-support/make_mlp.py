"""Trains a larger MLP than the digits example with PyTorch and exports it to ONNX, for mlship optimize's tests and
benchmark: 64 -> H -> H -> H -> 10 (ReLU, softmax output) on the digits split shipped in examples/digits-mlp.

    python3 make_mlp.py TRAIN_CSV OUT_DIR [HIDDEN] [EPOCHS]

Writes OUT_DIR/model.onnx (input "pixels" float32 [batch, 64], output "probabilities" float32 [batch, 10], opset 13,
dynamic batch) and prints one JSON line: parameters, seconds spent training, accuracy on the training rows.
Reproducible: fixed seeds, deterministic algorithms. Needs only torch (Debian: python3-torch) and numpy.
"""
import json
import sys
import time

import numpy as np
import torch

train_csv, out_dir = sys.argv[1], sys.argv[2]
hidden = int(sys.argv[3]) if len(sys.argv) > 3 else 2048
epochs = int(sys.argv[4]) if len(sys.argv) > 4 else 2

torch.manual_seed(0)
np.random.seed(0)
torch.use_deterministic_algorithms(True)

data = np.loadtxt(train_csv, delimiter=",", skiprows=1, dtype=np.float32)
features = torch.tensor(data[:, :64])
labels = torch.tensor(data[:, 64].astype(np.int64))


class LargerMLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(64, hidden),
            torch.nn.ReLU(),
            torch.nn.Linear(hidden, hidden),
            torch.nn.ReLU(),
            torch.nn.Linear(hidden, hidden),
            torch.nn.ReLU(),
            torch.nn.Linear(hidden, 10),
        )

    def logits(self, pixels):
        return self.net(pixels / 16.0)

    def forward(self, pixels):
        return torch.softmax(self.logits(pixels), dim=1)


model = LargerMLP()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
generator = torch.Generator().manual_seed(0)
start = time.time()
for epoch in range(epochs):
    order = torch.randperm(len(features), generator=generator)
    for first in range(0, len(features), 64):
        batch = order[first : first + 64]
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model.logits(features[batch]), labels[batch])
        loss.backward()
        optimizer.step()
trained = time.time() - start

model.eval()
with torch.no_grad():
    accuracy = float((model(features).argmax(1) == labels).float().mean())
torch.onnx.export(
    model,
    torch.zeros(1, 64),
    f"{out_dir}/model.onnx",
    input_names=["pixels"],
    output_names=["probabilities"],
    dynamic_axes={"pixels": {0: "batch"}, "probabilities": {0: "batch"}},
    opset_version=13,
)
print(
    json.dumps(
        {
            "parameters": sum(p.numel() for p in model.parameters()),
            "train_accuracy": round(accuracy, 4),
            "train_seconds": round(trained, 1),
        }
    )
)
