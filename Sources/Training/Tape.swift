import SqueezeCore

/// A value in a differentiated computation: a tensor and, when it depends on the variables being
/// differentiated, the index of the tape node that made it. Constants (no node) are never recorded,
/// so what does not depend on a variable costs nothing but its forward computation.
public struct Operand: Sendable {
    public let value: Tensor
    /// The node on the tape that produced it; nil for a constant.
    public let node: Int?

    public init(constant value: Tensor) {
        self.value = value
        self.node = nil
    }

    init(_ value: Tensor, node: Int) {
        self.value = value
        self.node = node
    }

    public var shape: [Int] { value.shape }
    public var isConstant: Bool { node == nil }
}

/// Reverse-mode differentiation by a tape (Wengert list): each operation on an operand that depends
/// on a variable appends a node with its inputs and a backward function mapping the gradient of its
/// output to the gradients of its inputs; `gradients(of:)` walks the nodes once, in reverse.
///
/// A tape belongs to one differentiated call and is dropped after it, with every tensor it kept
/// for the backward pass. It records what executes, so control flow needs nothing special.
public final class Tape: @unchecked Sendable {
    /// Gradient of the output → gradients of the inputs (nil where an input needs none), given which
    /// inputs need one.
    public typealias Backward = (_ gradient: Tensor, _ needs: [Bool]) throws -> [Tensor?]

    struct Node {
        /// Input node indices, −1 for constant inputs (kept so `needs` lines up with the operands).
        let inputs: [Int]
        var backward: Backward?
        let shape: [Int]
    }

    private(set) var nodes: [Node] = []
    let cancellation: CancellationToken?
    /// False once the differentiated call is over; operands of a closed tape are plain tensors.
    public private(set) var isOpen = true

    /// Ends recording and drops every node (and what the backward functions kept).
    public func close() {
        isOpen = false
        nodes = []
    }

    public init(cancellation: CancellationToken? = nil) { self.cancellation = cancellation }

    /// Operations recorded so far (variables included).
    public var count: Int { nodes.count }

    /// A variable: a leaf whose gradient is asked for.
    public func variable(_ value: Tensor) -> Operand {
        nodes.append(Node(inputs: [], backward: nil, shape: value.shape))
        return Operand(value, node: nodes.count - 1)
    }

    /// Records `value` computed from `inputs`; a constant when no input depends on a variable.
    public func record(_ value: Tensor, _ inputs: [Operand], _ backward: @escaping Backward) -> Operand {
        guard inputs.contains(where: { $0.node != nil }) else { return Operand(constant: value) }
        nodes.append(Node(inputs: inputs.map { $0.node ?? -1 }, backward: backward, shape: value.shape))
        return Operand(value, node: nodes.count - 1)
    }

    /// The gradient of the one-element `output` with respect to every node it depends on, by node
    /// index (absent: the output does not depend on it). Each node's backward function is released
    /// once used, and with it what it kept.
    public func gradients(of output: Operand) throws -> [Int: Tensor] {
        guard let out = output.node else { return [:] }
        guard output.value.count == 1 else {
            throw CoreError.invalidArgument("the gradient needs a one-element result, got shape \(Shape.describe(output.shape))")
        }
        var grads = [Tensor?](repeating: nil, count: out + 1)
        grads[out] = Tensor(shape: output.shape, repeating: 1)
        var leaves: [Int: Tensor] = [:]
        for i in stride(from: out, through: 0, by: -1) {
            guard let g = grads[i] else { continue }
            grads[i] = nil
            guard let backward = nodes[i].backward else {
                leaves[i] = g
                continue
            }
            try cancellation?.check()
            nodes[i].backward = nil
            let inputs = nodes[i].inputs
            let parts = try backward(g, inputs.map { $0 >= 0 })
            for (k, j) in inputs.enumerated() where j >= 0 {
                guard k < parts.count, let p = parts[k] else { continue }
                guard p.shape == nodes[j].shape else {
                    throw CoreError.invalidArgument(
                        "internal error: a gradient of shape \(Shape.describe(p.shape)) "
                            + "for a value of shape \(Shape.describe(nodes[j].shape))")
                }
                if let acc = grads[j] { grads[j] = Tape.accumulate(acc, p) } else { grads[j] = p }
            }
        }
        return leaves
    }

    /// `a + b` of equal shapes, in place when `a` is uniquely held.
    static func accumulate(_ a: Tensor, _ b: Tensor) -> Tensor {
        var a = a
        a.withMutableBuffer { pa in
            b.withBuffer { pb in for i in 0..<pa.count { pa[i] += pb[i] } }
        }
        return a
    }
}
