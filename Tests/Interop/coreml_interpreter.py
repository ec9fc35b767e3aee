"""A NumPy interpreter of the Core ML neural-network layers Sightline's exports use, written
from Core ML's NeuralNetwork.proto documentation, so the exported numbers can be checked on
Linux (Core ML itself runs only on Apple systems). It reads the spec as coremltools parses
it and runs one image (H x W x 3, 0-255, in the input's colour space) through it:

- preprocessing: the image scaler, y = channelScale * x + bias of the channel;
- convolution (groups, SAME with BOTTOM_RIGHT_HEAVY padding or VALID, bias), pooling
  (global average), activation (ReLU, sigmoid, linear), clip, unary (sqrt), scale (with
  bias), add and multiply of several inputs, innerProduct, softmax (over channels), concat
  (channels).

Blobs are rank-3 C x H x W arrays, as the networks' rank-5 image mapping has them for one
image and one sequence step."""
import numpy as np


def _weights(w, shape):
    values = np.asarray(w.floatValue, dtype=np.float32)
    assert values.size == int(np.prod(shape)), (values.size, shape)
    return values.reshape(shape)


def _convolution(p, x):
    cout, kc, groups = p.outputChannels, p.kernelChannels, max(p.nGroups, 1)
    kh, kw = p.kernelSize
    sh, sw = p.stride
    assert list(p.dilationFactor) in ([], [1, 1]) and not p.isDeconvolution
    w = _weights(p.weights, (cout, kc, kh, kw))
    c, h, wd = x.shape
    assert c == kc * groups, (c, kc, groups)
    which = p.WhichOneof("ConvolutionPaddingType")
    if which == "same":
        assert p.same.asymmetryMode == 0  # BOTTOM_RIGHT_HEAVY
        oh, ow = -(-h // sh), -(-wd // sw)
        ph, pw = max((oh - 1) * sh + kh - h, 0), max((ow - 1) * sw + kw - wd, 0)
        pad = ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2))
    else:
        amounts = p.valid.paddingAmounts.borderAmounts
        pad = ((0, 0),) + tuple((e.startEdgeSize, e.endEdgeSize) for e in amounts) if amounts else ((0, 0), (0, 0), (0, 0))
        oh = (h + pad[1][0] + pad[1][1] - kh) // sh + 1
        ow = (wd + pad[2][0] + pad[2][1] - kw) // sw + 1
    xp = np.pad(x, pad)
    out = np.zeros((cout, oh, ow), np.float32)
    per_group = cout // groups
    source = np.arange(cout) // per_group  # with one channel per group: each output's input channel
    for dy in range(kh):
        for dx in range(kw):
            patch = xp[:, dy:dy + sh * (oh - 1) + 1:sh, dx:dx + sw * (ow - 1) + 1:sw]  # C x oh x ow
            if kc == 1 and groups > 1:  # depthwise: one multiply per output channel, all at once
                out += w[:, 0, dy, dx][:, None, None] * patch[source]
                continue
            for g in range(groups):
                ws = w[g * per_group:(g + 1) * per_group, :, dy, dx]                   # per_group x kc
                out[g * per_group:(g + 1) * per_group] += np.tensordot(ws, patch[g * kc:(g + 1) * kc], axes=(1, 0))
    if p.hasBias:
        out += _weights(p.bias, (cout,))[:, None, None]
    return out


def _scale(p, x):
    scale = _weights(p.scale, tuple(p.shapeScale))
    y = x * scale.reshape(-1, 1, 1) if scale.size == x.shape[0] else x * scale
    if p.hasBias:
        bias = _weights(p.bias, tuple(p.shapeBias))
        y = y + (bias.reshape(-1, 1, 1) if bias.size == x.shape[0] else bias)
    return y.astype(np.float32)


def _layer(layer, xs):
    kind = layer.WhichOneof("layer")
    p = getattr(layer, kind)
    x = xs[0]
    if kind == "convolution":
        return _convolution(p, x)
    if kind == "clip":
        return np.clip(x, p.minVal, p.maxVal)
    if kind == "activation":
        a = p.WhichOneof("NonlinearityType")
        if a == "ReLU":
            return np.maximum(x, 0)
        if a == "sigmoid":
            return (1 / (1 + np.exp(-x))).astype(np.float32)
        if a == "linear":
            return (p.linear.alpha * x + p.linear.beta).astype(np.float32)
        raise NotImplementedError(a)
    if kind == "pooling":
        assert p.globalPooling and p.type == 1  # AVERAGE
        return x.mean(axis=(1, 2), keepdims=True, dtype=np.float32)
    if kind == "unary":
        assert p.type == 0  # SQRT, with its documented shift and scale
        return np.sqrt(p.scale * x + p.shift).astype(np.float32)
    if kind == "scale":
        return _scale(p, x)
    if kind == "add":
        return (sum(xs[1:], xs[0]) + (p.alpha if len(xs) == 1 else 0)).astype(np.float32)
    if kind == "multiply":
        out = xs[0]
        for y in xs[1:]:
            out = out * y
        return (out * p.alpha if len(xs) == 1 else out).astype(np.float32)
    if kind == "innerProduct":
        w = _weights(p.weights, (p.outputChannels, p.inputChannels))
        y = w @ x.reshape(-1)
        if p.hasBias:
            y = y + _weights(p.bias, (p.outputChannels,))
        return y.reshape(-1, 1, 1).astype(np.float32)
    if kind == "softmax":
        e = np.exp(x - x.max(axis=0, keepdims=True))
        return (e / e.sum(axis=0, keepdims=True)).astype(np.float32)
    if kind == "concat":
        assert not p.sequenceConcat
        return np.concatenate(xs, axis=0)
    raise NotImplementedError(kind)


def run(spec, image):
    """The network's blobs after feeding `image` (H x W x 3, 0-255) to its one image input."""
    which = spec.WhichOneof("Type")
    nn = getattr(spec, which)
    (inp,) = spec.description.input
    x = np.asarray(image, np.float32).transpose(2, 0, 1).copy()
    for pre in nn.preprocessing:
        assert pre.featureName == inp.name and pre.WhichOneof("preprocessor") == "scaler"
        s = pre.scaler
        colour = inp.type.imageType.colorSpace
        biases = [s.redBias, s.greenBias, s.blueBias] if colour == 20 else [s.blueBias, s.greenBias, s.redBias]
        x = (x * np.float32(s.channelScale) + np.asarray(biases, np.float32)[:, None, None]).astype(np.float32)
    blobs = {inp.name: x}
    for layer in nn.layers:
        out = _layer(layer, [blobs[i] for i in layer.input])
        (name,) = layer.output
        blobs[name] = out
    return blobs
