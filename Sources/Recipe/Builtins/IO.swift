import Datasets
import Foundation
import Models
import Plot
import SqueezeCore

extension Builtins {
    static let io: [Operation] = [
        Operation(
            "load", family: "data", summary: "Read a file (.npy, .npz, .safetensors, .gguf, .csv, .png, IDX) or a named data set.",
            doc: """
                .npy (versions 1–3): dtypes f2/f4/f8, i1–i8, u1–u8, b1, either byte order, C or Fortran order, rank ≤ 4, converted to \
                Float32; object and structured arrays are refused (nothing is unpickled). .npz (numpy.savez, stored or deflated): a \
                record of its arrays. .safetensors: a record of its tensors (F64/F32/F16/BF16/F8/I*/U*/BOOL → Float32), memory-mapped, \
                header and offsets validated. .csv: numeric fields, an optional header row; with label: "last" (or "first") the label \
                column is split off and a record {X, y} is returned. .png: grey, grey+alpha, RGB, RGBA or palette, 1–16 bits, as values \
                in [0, 1] of shape h×w (grey) or h×w×c; 16-bit samples are read exactly. IDX (MNIST's format; names containing "-idx" or \
                ending .idx, optionally .gz). .gguf (llama.cpp, v2/v3): {version, metadata, tensors, types} with \
                F32/F16/BF16/Q8_0/Q4_0/Q4_1 dequantized as ggml does, row-major shapes. A name without an extension loads a data set: \
                "digits", "fashion-mnist", "mnist-5k", "minilm", "smollm2", "canterbury", "shakespeare", "camera" (squeeze help \
                datasets).
                """,
            example: "save(eye(2), \"I.npy\")\nI = load(\"I.npy\")",
            params: [
                ParamSpec("path", .string),
                ParamSpec("label", .choice(["none", "first", "last"]), .value(.string("none")), namedOnly: true),
                ParamSpec(
                    "split", .choice(["train", "test"]), .value(.string("train")), namedOnly: true,
                    doc: "Data sets with splits (fashion-mnist)."),
                ParamSpec("limit", .integer, .none, range: 1...100_000_000, namedOnly: true, doc: "Data sets: at most this many samples."),
                ParamSpec(
                    "as", .choice(["auto", "model", "tensors"]), .value(.string("auto")), namedOnly: true,
                    doc: ".gguf: a model (llama architecture) or its raw tensors and metadata."),
            ]
        ) { args, interp in
            let path = try args.string("path")
            if !path.contains("."), !path.contains("/") {
                do { return try DatasetLoader.load(path, split: try args.string("split"), limit: try args.optionalInt("limit")) } catch let
                    e as DataError
                {
                    throw args.error("path", e.description)
                }
            }
            let url: URL
            do { url = try interp.sandbox.resolveRead(path) } catch let r as Sandbox.Refusal {
                throw args.error("path", r.description)
            }
            guard FileManager.default.isReadableFile(atPath: url.path) else {
                throw args.error("path", "cannot read '\(path)' (looked at \(url.path))")
            }
            do {
                let lower = url.lastPathComponent.lowercased()
                if lower.hasSuffix(".txt") || lower.hasSuffix(".text") || lower.hasSuffix(".md") {
                    guard let data = FileManager.default.contents(atPath: url.path) else {
                        throw args.error("path", "cannot read '\(path)'")
                    }
                    guard let text = String(data: data, encoding: .utf8) else {
                        let bad = data.prefix(1 << 20).firstIndex { $0 >= 0x80 } ?? 0
                        throw args.error("path", "\(path) is not UTF-8 text (an invalid byte sequence near byte offset \(bad))")
                    }
                    return .string(text)
                }
                if lower.hasSuffix(".gguf") {
                    let file = try GGUF.read(path: url.path)
                    let arch = file.metadata.first { $0.0 == "general.architecture" }?.1
                    if try args.string("as") == "model" || (try args.string("as") == "auto" && arch != nil) {
                        do { return .decoder(try LanguageModel(file: file, source: path)) } catch let e as ModelError {
                            throw args.error("path", e.description + " (as: \"tensors\" reads the file's tensors and metadata instead)")
                        }
                    }
                    func meta(_ v: GGUF.MetaValue) -> Value {
                        switch v {
                        case .int(let i): return .number(Double(i))
                        case .uint(let u): return .number(Double(u))
                        case .float(let f): return .number(f)
                        case .bool(let b): return .bool(b)
                        case .string(let s): return .string(s)
                        case .array(let a): return .list(a.map(meta))
                        }
                    }
                    return record([
                        ("version", .number(Double(file.version))),
                        ("metadata", record(file.metadata.map { ($0.0, meta($0.1)) })),
                        ("tensors", record(file.tensors.map { ($0.name, .tensor($0.tensor)) })),
                        ("types", record(file.tensors.map { ($0.name, .string($0.type)) })),
                    ])
                }
                if lower.hasSuffix(".safetensors") {
                    let file = try Safetensors.read(path: url.path)
                    return record(file.tensors.map { ($0.name, .tensor($0.tensor)) })
                }
                guard let data = FileManager.default.contents(atPath: url.path) else {
                    throw args.error("path", "cannot read '\(path)' (looked at \(url.path))")
                }
                if lower.contains("-idx") || lower.hasSuffix(".idx") || lower.hasSuffix(".idx.gz") {
                    return .tensor(try IDX.read(data, name: path))
                }
                switch url.pathExtension.lowercased() {
                case "npy":
                    return .tensor(try Npy.read(Array(data), name: path))
                case "npz":
                    return record(try Npz.read(data, name: path).map { ($0.0, .tensor($0.1)) })
                case "png":
                    let img: PNGDecoder.Image
                    do { img = try PNGDecoder.decode(data, budget: Memory.limit) } catch let f as PNGDecoder.Failure {
                        throw DataError(path, f.description)
                    }
                    let shape = img.channels == 1 ? [img.height, img.width] : [img.height, img.width, img.channels]
                    return .tensor(Tensor(shape: shape, storage: img.values))
                case "csv":
                    guard let text = String(data: data, encoding: .utf8) else { throw DataError(path, "not UTF-8 text") }
                    let table = try CSV.read(text, name: path)
                    let label = try args.string("label")
                    if label == "none" { return .tensor(table.rows) }
                    let x = table.rows
                    guard x.rank == 2, x.shape[1] >= 2 else { throw DataError(path, "label: \"\(label)\" needs at least two columns") }
                    let c = label == "last" ? x.shape[1] - 1 : 0
                    let y = try x.slice([.all, .index(c)])
                    let rest =
                        label == "last"
                        ? try x.slice([.all, .range(start: 0, stop: c, step: 1)])
                        : try x.slice([.all, .range(start: 1, stop: nil, step: 1)])
                    return record([("X", .tensor(rest)), ("y", .tensor(y))])
                default:
                    throw args.error(
                        "path", "unknown file type '.\(url.pathExtension)' (load reads .npy, .npz, .safetensors, .gguf, .csv, .png and IDX)"
                    )
                }
            } catch let e as DataError {
                throw args.error("path", e.description)
            }
        },
        Operation(
            "save", family: "data",
            summary: "Write a tensor (.npy, .csv, .png) or a record of tensors (.npz, .safetensors) under the output directory.",
            doc:
                """
                    Relative paths resolve against the output directory (--out, default the recipe's directory). .npy is float32 as \
                    numpy.save writes it; .npz a zip of .npy members (compressed: true deflates them) that numpy.load reads; .safetensors \
                    F32 tensors the safetensors package reads; .png an 8-bit image from values in [0, 1] of shape h×w, h×w×3 or h×w×4; \
                    .csv a matrix. A tensor saved to .npz or .safetensors is stored under the name \"arr_0\". Writing outside the output \
                    directory (absolute paths elsewhere, '..', symbolic links leading out, the .squeeze/ history folder) is refused. The \
                    file is recorded as an artifact of the run.
                    """,
            example: "save(randn(3, 2, seed: 1), \"x.csv\")\nsave({w: ones(2, 2), b: zeros(2)}, \"layer.safetensors\")",
            params: [
                ParamSpec("x", .any), ParamSpec("path", .string),
                ParamSpec(
                    "compressed", .bool, .value(.bool(false)), namedOnly: true, doc: ".npz: deflate the members (numpy.savez_compressed)."),
            ]
        ) { args, interp in
            let path = try args.string("path")
            let url: URL
            do { url = try interp.sandbox.resolveWrite(path) } catch let r as Sandbox.Refusal {
                throw args.error("path", r.description)
            }
            func tensors() throws -> [(String, Tensor)] {
                switch args.value("x") {
                case .record(let r):
                    return try r.fields.map { k, v in
                        guard let t = Ops.toTensor(v) else { throw args.error("x", "field '\(k)' is \(v.typeDescription), not a tensor") }
                        return (k, t)
                    }
                case let v:
                    guard let t = Ops.toTensor(v) else {
                        throw args.error("x", "expected a tensor or a record of tensors, got \(v.typeDescription)")
                    }
                    return [("arr_0", t)]
                }
            }
            func tensor() throws -> Tensor {
                guard let t = Ops.toTensor(args.value("x")) else {
                    throw args.error("x", "expected a tensor, got \(args.value("x").typeDescription) (records go to .npz or .safetensors)")
                }
                return t
            }
            let bytes: [UInt8]
            switch url.pathExtension.lowercased() {
            case "npy": bytes = Npy.write(try tensor())
            case "npz":
                let ts = try tensors()
                guard ts.reduce(0, { $0 + $1.1.count }) < 500_000_000 else {
                    throw args.error("x", "more than 2 GB of data: .npz without zip64 cannot hold it; use .safetensors")
                }
                bytes = Npz.write(ts, compressed: try args.bool("compressed"))
            case "safetensors":
                do { bytes = try Safetensors.write(try tensors()) } catch let e as DataError { throw args.error("x", e.description) }
            case "png":
                let t = try tensor()
                guard t.rank == 2 || (t.rank == 3 && [1, 3, 4].contains(t.shape[2])) else {
                    throw args.error(
                        "x", "a PNG holds h×w, h×w×3 or h×w×4 values in [0, 1]; this tensor has shape \(Shape.describe(t.shape))")
                }
                let c = t.rank == 2 ? 1 : t.shape[2]
                guard t.count > 0 else { throw args.error("x", "an empty image cannot be saved") }
                let px = t.storage.map { v -> UInt8 in v.isNaN ? 0 : UInt8((min(1, max(0, v)) * 255).rounded()) }
                do { bytes = Array(try PNG.encode(bytes: px, width: t.shape[1], height: t.shape[0], channels: c)) } catch {
                    throw args.error("x", "\(error)")
                }
            case "csv":
                let t = try tensor()
                guard t.rank <= 2 else { throw args.error("x", "CSV holds matrices; this tensor has shape \(Shape.describe(t.shape))") }
                bytes = Array(CSV.write(t).utf8)
            default:
                throw args.error("path", "unknown file type '.\(url.pathExtension)' (save writes .npy, .npz, .safetensors, .png and .csv)")
            }
            do {
                try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                try Data(bytes).write(to: url, options: .atomic)
            } catch {
                throw args.error("path", "cannot write '\(path)': \(error.localizedDescription)")
            }
            interp.observer?.artifact(path: url.path, kind: url.pathExtension.lowercased())
            return .none
        },
    ]
}
