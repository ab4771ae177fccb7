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

    static let decoderFieldNames = [
        "name", "layers", "layer_info", "config", "params", "bits", "bits_per_param", "linear_params", "linear_bits",
        "linear_bits_per_param", "tensors", "weights", "vocab_size", "source", "steps",
    ]

    static func field(_ m: LanguageModel, _ name: String) -> Value? {
        let c = m.config
        func n(_ v: Int) -> Value { .number(Double(v)) }
        switch name {
        case "name": return .string(m.name)
        case "source": return .string(m.source)
        case "layers": return .list(m.linearLayers.map { .string($0) })
        case "layer_info":
            return .list(
                m.linearLayers.map { l in
                    let (b, role) = LanguageModel.parse(layer: l)!
                    let shape = m.weight(l)!.shape
                    return .record(
                        Record(pairs: [
                            ("name", .string(l)), ("block", n(b)), ("role", .string(role)), ("out", n(shape[0])), ("in", n(shape[1])),
                            ("file_type", .string(m.fileTypes[l + ".weight"] ?? "?")),
                        ]))
                })
        case "config":
            return .record(
                Record(pairs: [
                    ("architecture", .string("llama")), ("layers", n(c.layers)), ("hidden", n(c.hidden)), ("heads", n(c.heads)),
                    ("kv_heads", n(c.kvHeads)), ("head_dim", n(c.headDim)), ("intermediate", n(c.intermediate)),
                    ("vocab_size", n(c.vocab)), ("context", n(c.context)), ("rms_norm_eps", .number(Double(c.eps))),
                    ("rope_base", .number(c.ropeBase)), ("rope_dims", n(c.ropeDims)), ("tied_embeddings", .bool(c.tiedEmbeddings)),
                    ("activation", .string("silu (SwiGLU)")), ("add_bos", .bool(m.tokenizer.addBOS)),
                    ("bos", m.tokenizer.bos.map(n) ?? .none), ("eos", m.tokenizer.eos.map(n) ?? .none),
                ]))
        case "params": return n(m.parameterCount)
        case "bits": return .number(m.bits)
        case "bits_per_param": return .number(m.bits / Double(max(1, m.parameterCount)))
        case "linear_params": return n(m.linearParameterCount)
        case "linear_bits": return .number(m.linearBits)
        case "linear_bits_per_param": return .number(m.linearBits / Double(max(1, m.linearParameterCount)))
        case "tensors": return .list(m.names.map { .string($0) })
        case "weights": return .record(Record(pairs: m.names.compactMap { k in m.weights[k].map { (k, .tensor($0)) } }))
        case "vocab_size": return n(c.vocab)
        case "steps": return .list(m.history.map { .string($0) })
        default: return nil
        }
    }
}
