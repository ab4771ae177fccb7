import Foundation
import OrderedCollections
import SqueezeCore
import Training

extension Builtins {
    static let activations = ["relu", "tanh", "sigmoid", "gelu", "none"]

    static let networks: [Operation] = [
        Operation(
            "mlp_init", family: "training",
            summary: "Parameters of a multilayer perceptron: {activation, layers: [{W (in×out), b}, …]}, seeded.",
            doc: """
                sizes [d₀, d₁, …, d_L] give L layers h ← act(h·W + b) (no activation after the last). init "torch" draws W and b from \
                U(−1/√fan_in, 1/√fan_in), nn.Linear's default (kaiming_uniform with a = √5); "he" draws W ~ N(0, 2/fan_in), b = 0; \
                "xavier" U(±√(6/(fan_in + fan_out))), b = 0. W is stored in×out (PyTorch's weight transposed), so mlp(p, X) is X·W + b.
                """,
            example: "p = mlp_init([4, 8, 3], seed: 1)\nprint(shape(mlp(p, ones(2, 4))))",
            params: [
                ParamSpec("sizes", .list), ParamSpec("activation", .choice(activations), .value(.string("relu")), namedOnly: true),
                ParamSpec("init", .choice(["torch", "he", "xavier"]), .value(.string("torch")), namedOnly: true), seedParam,
            ]
        ) { args, interp in
            let sizes = try args.ints("sizes")
            guard sizes.count >= 2, sizes.allSatisfy({ $0 >= 1 }) else {
                throw args.error("sizes", "'sizes' needs at least two positive widths (inputs and outputs), got \(sizes)")
            }
            let kind = try args.string("init")
            let layers: [Value] = try withGenerator(args, interp) { g in
                (0..<(sizes.count - 1)).map { (l: Int) -> Value in
                    let fin = sizes[l], fout = sizes[l + 1]
                    let W: Tensor, b: Tensor
                    switch kind {
                    case "he":
                        W = Tensor.randn([fin, fout], using: &g, std: Float((2 / Double(fin)).squareRoot()))
                        b = Tensor.zeros([fout])
                    case "xavier":
                        let a = Float((6 / Double(fin + fout)).squareRoot())
                        W = Tensor.rand([fin, fout], using: &g, low: -a, high: a)
                        b = Tensor.zeros([fout])
                    default:
                        let a = Float(1 / Double(fin).squareRoot())
                        W = Tensor.rand([fin, fout], using: &g, low: -a, high: a)
                        b = Tensor.rand([fout], using: &g, low: -a, high: a)
                    }
                    return .record(Record(pairs: [("W", .tensor(W)), ("b", .tensor(b))]))
                }
            }
            return .record(Record(pairs: [("activation", args.value("activation")), ("layers", .list(layers))]))
        },
        Operation(
            "mlp", family: "training", summary: "The forward pass of mlp_init's parameters: logits of X (rows are samples).",
            example: "p = mlp_init([4, 3], seed: 1)\nprint(shape(mlp(p, ones(2, 4))))",
            params: [ParamSpec("params", .record), ParamSpec("X", .any)]
        ) { args, interp in
            let t = tape(interp)
            guard case .record(let p) = args.value("params"), case .list(let layers)? = p["layers"] else {
                throw args.error("params", "'params' must be mlp_init's record {activation, layers: [{W, b}, …]}")
            }
            let act = p["activation"]?.asString ?? "relu"
            guard activations.contains(act) else { throw args.error("params", "unknown activation \(Format.quoted(act))") }
            var h = try Autodiff.tensorArg(args, "X", t)
            for (i, layer) in layers.enumerated() {
                guard case .record(let l) = layer, let wv = l["W"], let W = Autodiff.operand(wv, t) else {
                    throw args.error("params", "layer \(i) must be a record {W, b}")
                }
                h = try t.matmul(h, W)
                if let bv = l["b"], case .none = bv {
                } else if let bv = l["b"], let b = Autodiff.operand(bv, t) {
                    h = try t.binary(.add, h, b)
                }
                if i < layers.count - 1 {
                    switch act {
                    case "relu": h = t.apply(.relu, h)
                    case "tanh": h = t.apply(.tanh, h)
                    case "sigmoid": h = t.apply(.sigmoid, h)
                    case "gelu": h = t.apply(.gelu, h)
                    default: break
                    }
                }
            }
            return Autodiff.value(h, t)
        },
        Operation(
            "batches", family: "training",
            summary: "Mini-batches {X, y} of the rows of X (and y): a shuffled order from the seed, the last batch may be smaller.",
            example: "for b in batches(randn(10, 2), arange(0, 10), size: 4, seed: 1) { print(shape(b.X)) }",
            params: [
                ParamSpec("X", .tensor), ParamSpec("y", .any, .none),
                ParamSpec("size", .integer, .value(.number(32)), range: 1...1e9, namedOnly: true),
                ParamSpec("shuffle", .bool, .value(.bool(true)), namedOnly: true), seedParam,
            ]
        ) { args, interp in
            let X = try args.tensor("X")
            let y = args.isNone("y") ? nil : Ops.toTensor(args.value("y"))
            if !args.isNone("y") {
                guard let y, y.rank >= 1, y.shape[0] == X.rows else {
                    throw args.error("y", "'y' must have one entry per row of X (\(X.rows))")
                }
            }
            let order = try args.bool("shuffle") ? try withGenerator(args, interp) { $0.permutation(X.rows) } : Array(0..<X.rows)
            let size = try args.int("size")
            return .list(
                try stride(from: 0, to: order.count, by: size).map { start in
                    let idx = Array(order[start..<min(start + size, order.count)])
                    var fields: [(String, Value)] = [("X", .tensor(try X.rows(at: idx)))]
                    if let y { fields.append(("y", .tensor(try y.rows(at: idx)))) }
                    return .record(Record(pairs: fields))
                })
        },
    ]
}
