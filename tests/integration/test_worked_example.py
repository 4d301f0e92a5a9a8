"""The course report's worked example of one CNN forward and backward pass, by hand.

Network: a 3×3 input, two 2×2 filters (valid cross-correlation, stride 1, no bias) -> two 2×2
maps, ReLU, 2×2 max pooling -> 2 values, dense layer z = W·p + b, softmax, cross-entropy with
target [0, 1]. Every number below is worked out by hand in the comments.

Where the report differs: it took the loss with log₁₀ (it wrote -log₁₀(0.3318) = 0.479) and some
of its intermediate numbers were wrong. This test states the correct values, computed with the
natural log (cross-entropy as every framework defines it): L = -ln(0.33181) = 1.10319.
"""
import math

import numpy as np

import xpnet
import xpnet.functional as F
from xpnet.testing import assert_close

X = [[1.0, 0.0, 3.0],
     [2.0, 5.0, 1.0],
     [4.0, 0.0, 2.0]]
K1 = [[1.0, 0.0],
      [2.0, -1.0]]
K2 = [[-1.0, 2.0],
      [0.0, 1.0]]
W = [[0.5, -0.3],
     [-0.2, 0.7]]
B = [1.2, -0.5]

# Convolution (each output = sum of the 2×2 window times the filter):
#   map1[0,0] = 1·1 + 0·0 + 2·2 + 5·(-1) = 0       map1[0,1] = 0·1 + 3·0 + 5·2 + 1·(-1) = 9
#   map1[1,0] = 2·1 + 5·0 + 4·2 + 0·(-1) = 10      map1[1,1] = 5·1 + 1·0 + 0·2 + 2·(-1) = 3
#   map2[0,0] = 1·(-1) + 0·2 + 2·0 + 5·1 = 4       map2[0,1] = 0·(-1) + 3·2 + 5·0 + 1·1 = 7
#   map2[1,0] = 2·(-1) + 5·2 + 4·0 + 0·1 = 8       map2[1,1] = 5·(-1) + 1·2 + 0·0 + 2·1 = -1
MAPS = [[[0.0, 9.0], [10.0, 3.0]],
        [[4.0, 7.0], [8.0, -1.0]]]
# ReLU clips map2[1,1] = -1 to 0; max pooling takes 10 (map1) and 8 (map2), both at (1, 0)
RELU = [[[0.0, 9.0], [10.0, 3.0]],
        [[4.0, 7.0], [8.0, 0.0]]]
POOLED = [10.0, 8.0]
# Dense: z1 = 0.5·10 + (-0.3)·8 + 1.2 = 5 - 2.4 + 1.2 = 3.8
#        z2 = -0.2·10 + 0.7·8 - 0.5 = -2 + 5.6 - 0.5 = 3.1
Z = [3.8, 3.1]
# Softmax: p1 = 1 / (1 + e^(3.1 - 3.8)) = 1 / (1 + e^-0.7) = 1 / (1 + 0.4965853) = 0.6681878
#          p2 = 1 - p1 = 0.3318122
D = 1.0 / (1.0 + math.exp(-0.7))            # 0.6681877721681662
P = [D, 1.0 - D]
# Cross-entropy with target [0, 1]: L = -ln(p2) = -ln(0.3318122) = 1.1031860
LOSS = 1.1031860488854581
# Backward.
# dL/dz = p - y = [0.6681878, -0.6681878] = [D, -D]
GRAD_Z = [D, -D]
# dL/dW = dL/dz ⊗ p:  [[D·10, D·8], [-D·10, -D·8]] = [[6.681878, 5.345502], [-6.681878, -5.345502]]
GRAD_W = [[10 * D, 8 * D], [-10 * D, -8 * D]]
GRAD_B = GRAD_Z
# dL/dpooled = Wᵀ·dL/dz = [0.5·D + (-0.2)·(-D), -0.3·D + 0.7·(-D)] = [0.7·D, -D]
#            = [0.4677314, -0.6681878]
# Max pooling sends each value back to its arg-max (1, 0); ReLU passes it (10 > 0, 8 > 0):
#   dL/dmap1 = [[0, 0], [0.7·D, 0]],   dL/dmap2 = [[0, 0], [-D, 0]]
# Kernel gradient = correlation of the input with the map gradient; only position (1, 0) is
# non-zero, so it is that position's window X[1:3, 0:2] = [[2, 5], [4, 0]] times the gradient:
#   dL/dK1 = 0.7·D·[[2, 5], [4, 0]] = [[0.9354629, 2.3386572], [1.8709258, 0]]
#   dL/dK2 =  -D·[[2, 5], [4, 0]] = [[-1.3363755, -3.3409389], [-2.6727511, 0]]
WINDOW = np.array([[2.0, 5.0], [4.0, 0.0]])
GRAD_K1 = 0.7 * D * WINDOW
GRAD_K2 = -D * WINDOW
# Input gradient = full convolution of the map gradients with the kernels rotated 180°; with one
# non-zero entry it is 0.7·D·K1 - D·K2 placed on the window X[1:3, 0:2]:
#   0.7·[[1, 0], [2, -1]] - [[-1, 2], [0, 1]] = [[1.7, -2], [1.4, -1.7]]
#   dL/dX = D·[[0, 0, 0], [1.7, -2, 0], [1.4, -1.7, 0]]
#         = [[0, 0, 0], [1.1359192, -1.3363755, 0], [0.9354629, -1.1359192, 0]]
GRAD_X = D * np.array([[0.0, 0.0, 0.0], [1.7, -2.0, 0.0], [1.4, -1.7, 0.0]])


def test_the_worked_example_forward_and_every_gradient_match_the_hand_computation(device):
    def t(value):
        return xpnet.tensor(value, device=device, dtype="float64", requires_grad=True)

    x = t([[X]])                                  # (1, 1, 3, 3)
    kernels = t([[K1], [K2]])                     # (2, 1, 2, 2)
    w, b = t(W), t(B)
    maps = F.conv2d(x, kernels).retain_grad()
    pooled = F.max_pool2d(F.relu(maps), 2).retain_grad()
    z = F.linear(F.flatten(pooled, 1), w, b).retain_grad()
    target = xpnet.tensor([1], device=device)     # one-hot [0, 1]
    loss = F.cross_entropy(z, target)

    assert_close(maps, [MAPS], rtol=1e-12)
    assert_close(F.relu(maps), [RELU], rtol=1e-12)
    assert_close(pooled, [[[[POOLED[0]]], [[POOLED[1]]]]], rtol=1e-12)
    assert_close(z, [Z], rtol=1e-12)
    assert_close(F.softmax(z, axis=1), [P], rtol=1e-12)
    assert_close(loss, LOSS, rtol=1e-12)
    assert abs(-math.log10(P[1]) - 0.4791) < 1e-4     # the report's log₁₀ value, for the record

    loss.backward()
    assert_close(z.grad, [GRAD_Z], rtol=1e-12)
    assert_close(w.grad, GRAD_W, rtol=1e-12)
    assert_close(b.grad, GRAD_B, rtol=1e-12)
    assert_close(pooled.grad, [[[[0.7 * D]], [[-D]]]], rtol=1e-12)
    assert_close(maps.grad, [[[[0, 0], [0.7 * D, 0]], [[0, 0], [-D, 0]]]], rtol=1e-12)
    assert_close(kernels.grad, [[GRAD_K1], [GRAD_K2]], rtol=1e-12, atol=1e-15)
    assert_close(x.grad, [[GRAD_X]], rtol=1e-12, atol=1e-15)
