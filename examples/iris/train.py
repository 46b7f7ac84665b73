#!/usr/bin/python3
"""Trains the teaching example: scikit-learn LogisticRegression on iris, exported to ONNX.

Writes model.onnx (MatMul + Add + Softmax, input "features" [batch, 4] float32, output "probabilities" [batch, 3])
and model.pkl (the sklearn original, used only to benchmark the seed's Flask app on the same model).
Reproducible: lbfgs on a fixed data set is deterministic. Needs Debian's python3-sklearn and python3-onnx:
    /usr/bin/python3 train.py [OUT_DIR]
"""
import pickle
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

out = sys.argv[1] if len(sys.argv) > 1 else "."
X, y = load_iris(return_X_y=True)
clf = LogisticRegression(max_iter=1000).fit(X, y)
with open(f"{out}/model.pkl", "wb") as f:
    pickle.dump(clf, f)

W = numpy_helper.from_array(clf.coef_.T.astype(np.float32), "W")
b = numpy_helper.from_array(clf.intercept_.astype(np.float32), "b")
graph = helper.make_graph(
    [
        helper.make_node("MatMul", ["features", "W"], ["z0"]),
        helper.make_node("Add", ["z0", "b"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
    ],
    "iris",
    [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", 4])],
    [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 3])],
    [W, b],
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="mlship-examples")
model.ir_version = 8
onnx.checker.check_model(model)
onnx.save(model, f"{out}/model.onnx")
print("training accuracy", round(clf.score(X, y), 4), "proba[0]", clf.predict_proba(X[:1]).round(4).tolist())
