/// A batch of feature maps in NHWC order (channels innermost), float32.
public struct Tensor: Sendable {
    public var n: Int, h: Int, w: Int, c: Int
    public var data: [Float]

    public init(n: Int, h: Int, w: Int, c: Int, data: [Float]) {
        precondition(data.count == n * h * w * c, "tensor data does not match its shape")
        self.n = n; self.h = h; self.w = w; self.c = c; self.data = data
    }

    public init(n: Int, h: Int, w: Int, c: Int) {
        self.init(n: n, h: h, w: w, c: c, data: [Float](repeating: 0, count: n * h * w * c))
    }

    public var count: Int { data.count }
}

/// TensorFlow SAME padding: output ceil(in/stride), the odd pixel of padding after.
public struct SamePadding: Equatable, Sendable {
    public var output: Int
    public var before: Int
    public var after: Int

    public init(input: Int, kernel: Int, stride: Int) {
        output = (input + stride - 1) / stride
        let total = max((output - 1) * stride + kernel - input, 0)
        before = total / 2
        after = total - before
    }
}
