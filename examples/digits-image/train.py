#!/usr/bin/python3
"""Trains the image example: a small CNN that reads a picture of a handwritten digit (scikit-learn's bundled digits).

The client sends the picture itself (PNG, JPEG or WebP, any size, dark ink on a light background); model.yaml's
preprocess: turns it into the tensor: grayscale, stretched to 16x16 (Pillow's bilinear), scaled to 0..1, normalised
with mean 0.5 and std 0.5. The training images go through that same pipeline (Pillow), so what the server computes is
what the model was trained on.

Writes, next to this script (or into OUT_DIR):
  model.onnx    input "image" float32 [batch, 1, 16, 16], output "scores" float32 [batch, 10] (logits: model.yaml's
                postprocess takes the softmax), exported with torch.onnx.export and a dynamic batch axis
  three.png     a held-out 3, drawn at 64x64
  seven.jpg     a held-out 7, drawn at 48x48, JPEG
Reproducible: fixed seeds, one thread, deterministic algorithms. Offline: load_digits ships with scikit-learn.
    /usr/bin/python3 train.py [OUT_DIR]      (Debian: python3-torch python3-sklearn python3-onnx python3-pil)
"""
import sys

import numpy as np
import torch
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

out = sys.argv[1] if len(sys.argv) > 1 else "."
torch.manual_seed(0)
np.random.seed(0)
torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)
SIDE = 16


def picture(digit, size, resample):
    """The 8x8 digit (ink 0..16) as a grayscale picture of size x size: dark ink on white, as people draw."""
    ink = np.round(255 - digit.reshape(8, 8) * 255 / 16).astype(np.uint8)
    return Image.fromarray(ink, "L").resize((size, size), resample)


def preprocess(image):
    """What model.yaml's preprocess: does on the server: grayscale, stretch to 16x16 bilinear, /255, (x-0.5)/0.5."""
    small = image.convert("L").resize((SIDE, SIDE), Image.BILINEAR)
    return (np.asarray(small, dtype=np.float32) / 255 - 0.5) / 0.5


def variants(digit):
    # Pictures of several sizes and upscaling filters, each brought back to 16x16 by the server's pipeline.
    for size, resample in ((8, Image.NEAREST), (16, Image.BILINEAR), (32, Image.BICUBIC), (48, Image.BILINEAR),
                           (64, Image.BICUBIC), (100, Image.NEAREST)):
        yield preprocess(picture(digit, size, resample))


X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)
train_images = np.stack([v for d in X_train for v in variants(d)])[:, None]
train_labels = np.repeat(y_train, len(list(variants(X_train[0]))))
test_images = np.stack([preprocess(picture(d, 64, Image.BICUBIC)) for d in X_test])[:, None]


class DigitsCNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Conv2d(1, 8, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(8, 16, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
            torch.nn.Flatten(),
            torch.nn.Linear(16 * 4 * 4, 10),
        )

    def forward(self, image):
        return self.net(image)


model = DigitsCNN()
Xt = torch.tensor(train_images)
yt = torch.tensor(train_labels, dtype=torch.long)
optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
generator = torch.Generator().manual_seed(0)
for epoch in range(8):
    order = torch.randperm(len(Xt), generator=generator)
    for start in range(0, len(Xt), 64):
        idx = order[start : start + 64]
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(Xt[idx]), yt[idx])
        loss.backward()
        optimizer.step()

model.eval()
with torch.no_grad():
    test_acc = (model(torch.tensor(test_images)).argmax(1).numpy() == y_test).mean()
    train_acc = (model(Xt).argmax(1).numpy() == train_labels).mean()
params = sum(p.numel() for p in model.parameters())

torch.onnx.export(
    model,
    torch.zeros(1, 1, SIDE, SIDE),
    f"{out}/model.onnx",
    input_names=["image"],
    output_names=["scores"],
    dynamic_axes={"image": {0: "batch"}, "scores": {0: "batch"}},
    opset_version=13,
)

# The sample pictures: the first held-out 3 and 7, which the model classifies correctly (the test serves them).
for label, name, size in ((3, "three.png", 64), (7, "seven.jpg", 48)):
    index = int(np.flatnonzero(y_test == label)[0])
    picture(X_test[index], size, Image.BICUBIC).save(f"{out}/{name}", **({"quality": 90} if name.endswith("jpg") else {}))

print(f"weights {params}, train accuracy {train_acc:.4f}, held-out accuracy (64x64 pictures) {test_acc:.4f}")
