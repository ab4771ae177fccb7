import Models
import OrderedCollections
import SqueezeCore

/// The fields a model value answers: `m.layers`, `m.config`, `m.bits`, …; `m["name"]` gives a tensor.
enum ModelValue {
    static let fieldNames = [
        "name", "layers", "config", "params", "bits", "bits_per_param", "linear_params", "linear_bits",
        "linear_bits_per_param", "tensors", "weights", "vocab_size",
    ]

    static func field(_ m: Transformer, _ name: String) -> Value? {
        let c = m.config
        switch name {
        case "name": return .string(m.name)
        case "layers": return .list(m.linearLayers.map { .string($0) })
        case "config":
            return .record(
                Record(pairs: [
                    ("layers", .number(Double(c.layers))), ("hidden", .number(Double(c.hidden))),
                    ("heads", .number(Double(c.heads))), ("head_dim", .number(Double(c.headDim))),
                    ("intermediate", .number(Double(c.intermediate))), ("max_length", .number(Double(c.maxLength))),
                    ("layer_norm_eps", .number(Double(c.eps))), ("activation", .string("gelu")), ("pooling", .string("mean")),
                ]))
        case "params": return .number(Double(m.parameterCount))
        case "bits": return .number(m.bits)
        case "bits_per_param": return .number(m.bits / Double(max(1, m.parameterCount)))
        case "linear_params": return .number(Double(m.linearParameterCount))
        case "linear_bits": return .number(m.linearBits)
        case "linear_bits_per_param": return .number(m.linearBits / Double(max(1, m.linearParameterCount)))
        case "tensors": return .list(m.names.map { .string($0) })
        case "weights": return .record(Record(pairs: m.names.compactMap { n in m.weights[n].map { (n, .tensor($0)) } }))
        case "vocab_size": return .number(Double(m.tokenizer.vocabulary.count))
        default: return nil
        }
    }
}
