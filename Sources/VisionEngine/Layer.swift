/// A trainable layer on oneDNN: forward keeps what backward needs, backward returns the
/// input gradient and sets the parameters' gradients. Tensors are NHWC; vectors are
/// [N, 1, 1, C]. One forward, then at most one backward, per step; not thread-safe.
public protocol Layer: AnyObject {
    func forward(_ x: Tensor) -> Tensor
    func backward(_ dy: Tensor) -> Tensor
    var parameters: [Parameter] { get }
}

/// A parameter tensor and the gradient of the last backward pass.
public final class Parameter: @unchecked Sendable {
    public var value: [Float]
    public var gradient: [Float]

    public init(_ value: [Float]) {
        self.value = value
        gradient = [Float](repeating: 0, count: value.count)
    }
}

/// Layers in sequence.
public final class LayerStack: Layer {
    public let layers: [any Layer]
    public init(_ layers: [any Layer]) { self.layers = layers }

    public func forward(_ x: Tensor) -> Tensor { layers.reduce(x) { $1.forward($0) } }
    public func backward(_ dy: Tensor) -> Tensor { layers.reversed().reduce(dy) { $1.backward($0) } }
    public var parameters: [Parameter] { layers.flatMap(\.parameters) }
}

/// `x + body(x)`, the MBConv shortcut.
public final class ResidualLayer: Layer {
    public let body: any Layer
    public init(_ body: any Layer) { self.body = body }

    public func forward(_ x: Tensor) -> Tensor {
        var y = body.forward(x)
        precondition(y.count == x.count, "a residual body must keep its input's shape")
        for i in y.data.indices { y.data[i] += x.data[i] }
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        var dx = body.backward(dy)
        for i in dx.data.indices { dx.data[i] += dy.data[i] }
        return dx
    }

    public var parameters: [Parameter] { body.parameters }
}
