import Datasets
import Foundation
import Plot
import SqueezeCore

extension Builtins {
    static let io: [Operation] = [
        Operation("load", family: "data", summary: "Read a tensor from a .npy, .csv or .png file (relative paths: the recipe's directory).",
                  doc: """
                  .png: grey, grey+alpha, RGB, RGBA or palette, 1–16 bits, as values in [0, 1] of shape h×w (grey) or h×w×c; 16-bit samples are read exactly. .npy (versions 1–3): dtypes f2/f4/f8, i1–i8, u1–u8, b1, either byte order, C or Fortran order, rank ≤ 4, converted to Float32; object and structured arrays are refused (nothing is unpickled). .csv: numeric fields, an optional header row; with label: "last" (or "first") the label column is split off and a record {X, y} is returned.
                  """,
                  example: "save(eye(2), \"I.npy\")\nI = load(\"I.npy\")",
                  params: [ParamSpec("path", .string), ParamSpec("label", .choice(["none", "first", "last"]), .value(.string("none")), namedOnly: true)]) { args, interp in
            let path = try args.string("path")
            let url = interp.sandbox.resolveRead(path)
            guard let data = FileManager.default.contents(atPath: url.path) else {
                throw args.error("path", "cannot read '\(path)' (looked at \(url.path))")
            }
            do {
                switch url.pathExtension.lowercased() {
                case "npy":
                    return .tensor(try Npy.read(Array(data), name: path))
                case "png":
                    let img: PNG.Image
                    do { img = try PNG.decode(data) } catch let f as PNG.Failure { throw DataError(path, f.description) }
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
                    let rest = label == "last" ? try x.slice([.all, .range(start: 0, stop: c, step: 1)])
                                               : try x.slice([.all, .range(start: 1, stop: nil, step: 1)])
                    return record([("X", .tensor(rest)), ("y", .tensor(y))])
                default:
                    throw args.error("path", "unknown file type '.\(url.pathExtension)' (load reads .npy, .csv and .png)")
                }
            } catch let e as DataError {
                throw args.error("path", e.description)
            }
        },
        Operation("save", family: "data", summary: "Write a tensor to .npy (float32, readable by numpy.load) or .csv, under the output directory.",
                  doc: "Relative paths resolve against the output directory (--out, default the recipe's directory). Writing outside it (absolute paths elsewhere, '..', symbolic links leading out, the .squeeze/ history folder) is refused. The file is recorded as an artifact of the run.",
                  example: "save(randn(3, 2, seed: 1), \"x.csv\")",
                  params: [ParamSpec("x", .tensor), ParamSpec("path", .string)]) { args, interp in
            let t = try args.tensor("x")
            let path = try args.string("path")
            let url: URL
            do { url = try interp.sandbox.resolveWrite(path) } catch let r as Sandbox.Refusal {
                throw args.error("path", r.description)
            }
            let bytes: [UInt8]
            switch url.pathExtension.lowercased() {
            case "npy": bytes = Npy.write(t)
            case "csv":
                guard t.rank <= 2 else { throw args.error("x", "CSV holds matrices; this tensor has shape \(Shape.describe(t.shape))") }
                bytes = Array(CSV.write(t).utf8)
            default: throw args.error("path", "unknown file type '.\(url.pathExtension)' (save writes .npy and .csv)")
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
