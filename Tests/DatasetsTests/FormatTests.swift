import Datasets
import Foundation
import SqueezeCore
import Testing

/// npz written by numpy, safetensors written by hand (every dtype), IDX plain and gzipped, and
/// damaged files of each (Fixtures/make_format_fixtures.py).
@Suite struct FormatTests {
    static let dir = Bundle.module.resourceURL!.appendingPathComponent("Fixtures")

    static let expected: [String: Tensor] = {
        guard let data = try? Data(contentsOf: dir.appendingPathComponent("formats.json")),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: [String: Any]] else { return [:] }
        return json.mapValues { e in
            Tensor(shape: (e["shape"] as? [NSNumber] ?? []).map(\.intValue),
                   storage: (e["data"] as? [Any] ?? []).map { ($0 as? NSNumber).map { Float($0.doubleValue) } ?? .nan })
        }
    }()

    static func data(_ name: String) throws -> Data { try Data(contentsOf: dir.appendingPathComponent(name)) }

    /// Bitwise equality, NaN equal to NaN (the expected values are exact, computed in Python).
    func same(_ a: Tensor, _ b: Tensor?) -> Bool {
        guard let b, a.shape == b.shape else { return false }
        return zip(a.storage, b.storage).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) }
    }

    @Test(arguments: ["arrays.npz", "arrays_c.npz"])
    func readsNpzAsNumpyWroteIt(file: String) throws {
        let arrays = try Npz.read(try FormatTests.data(file), name: file)
        #expect(arrays.map(\.0) == ["a", "b", "s"])
        for (k, t) in arrays { #expect(same(t, FormatTests.expected["npz.\(k)"]), "\(k)") }
    }

    @Test func readsEverySafetensorsDtype() throws {
        let f = try Safetensors.read(path: FormatTests.dir.appendingPathComponent("all.safetensors").path)
        #expect(f.metadata == ["format": "pt", "made_by": "make_format_fixtures.py"])
        #expect(f.tensors.count == 17)
        for t in f.tensors { #expect(same(t.tensor, FormatTests.expected["st.\(t.name)"]), "\(t.name) (\(t.dtype)): \(t.tensor.storage)") }
        #expect(f.tensors.first { $0.name == "scalar" }?.tensor.shape == [])
        #expect(f.tensors.first { $0.name == "four_d" }?.tensor.shape == [1, 2, 2, 4])
    }

    @Test(arguments: ["images-idx3-ubyte", "images-idx3-ubyte.gz"])
    func readsIDXPlainAndGzipped(file: String) throws {
        #expect(same(try IDX.read(try FormatTests.data(file), name: file), FormatTests.expected["idx.u8"]))
    }

    @Test func readsIDXIntegerAndFloatTypes() throws {
        #expect(same(try IDX.read(try FormatTests.data("short-idx1.idx"), name: "s"), FormatTests.expected["idx.i16"]))
        #expect(same(try IDX.read(try FormatTests.data("float-idx2.idx"), name: "f"), FormatTests.expected["idx.f32"]))
    }

    /// GGUF written by hand; values from the gguf package's reference dequantizer.
    @Test func readsGGUFAndDequantizesLikeGGML() throws {
        let f = try GGUF.read(path: FormatTests.dir.appendingPathComponent("model.gguf").path)
        #expect(f.version == 3)
        let meta = Dictionary(f.metadata.map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
        #expect(meta["general.architecture"] == .string("toy"))
        #expect(meta["toy.block_count"] == .uint(2))
        #expect(meta["toy.flag"] == .bool(true) && meta["toy.i8"] == .int(-3) && meta["toy.u64"] == .uint(1 << 40) && meta["toy.f64"] == .float(0.25))
        #expect(meta["toy.tokens"] == .array([.string("a"), .string("b"), .string("<eos>")]))
        let json = try JSONSerialization.jsonObject(with: try FormatTests.data("gguf.json")) as? [String: [String: Any]] ?? [:]
        #expect(f.tensors.map(\.name) == ["f32", "f16", "bf16", "q8_0", "q4_0", "q4_1"])
        for t in f.tensors {
            let e = try #require(json[t.name])
            #expect(t.type == e["type"] as? String)
            #expect(t.tensor.shape == (e["shape"] as? [NSNumber] ?? []).map(\.intValue), "\(t.name)")
            let want = (e["data"] as? [NSNumber] ?? []).map { Float($0.doubleValue) }
            #expect(t.tensor.storage == want, "\(t.name)")
        }
    }

    @Test func writersRoundTrip() throws {
        var g = RandomGenerator(seed: 4)
        let a = Tensor.randn([3, 4], using: &g), b = Tensor(shape: [], storage: [7])
        for compressed in [false, true] {
            let back = try Npz.read(Data(Npz.write([("a", a), ("b", b)], compressed: compressed)), name: "w.npz")
            #expect(back.map(\.0) == ["a", "b"] && same(back[0].1, a) && same(back[1].1, b))
        }
        let st = try Safetensors.read(Data(try Safetensors.write([("a", a), ("b", b)], metadata: ["k": "v"])), name: "w.safetensors")
        #expect(st.tensors.map(\.name) == ["a", "b"] && same(st.tensors[0].tensor, a) && st.metadata == ["k": "v"])
    }

    /// Damaged files: a DataError naming the file, and where the byte offset is known, the offset.
    @Test(arguments: [
        ("st_truncated.safetensors", "data_offsets [298, 362] lie outside the 359-byte data section"),
        ("st_overlap.safetensors", "overlap"),
        ("st_huge_header.safetensors", "over the 100 MB limit"),
        ("npz_bad_crc.npz", "fails its CRC-32 check"),
        ("npz_truncated.npz", "not a zip archive"),
        ("truncated-idx3.idx", "need 24 bytes; 19 follow the header"),
        ("gguf_truncated.gguf", "lies outside the file"),
        ("gguf_bad_magic.gguf", "not a GGUF file"),
    ])
    func damagedFilesAreDiagnosed(file: String, message: String) throws {
        do {
            let d = try FormatTests.data(file)
            if file.hasSuffix(".safetensors") { _ = try Safetensors.read(d, name: file) }
            else if file.hasSuffix(".npz") { _ = try Npz.read(d, name: file) }
            else if file.hasSuffix(".gguf") { _ = try GGUF.read(d, name: file) }
            else { _ = try IDX.read(d, name: file) }
            Issue.record("\(file) was accepted")
        } catch let e as DataError {
            #expect(e.description.contains(file), "\(e)")
            #expect(e.description.contains(message), "\(e)")
        }
    }

    /// Found by the IDX fuzzer: extents whose byte count overflows must be an error, not a trap.
    @Test func hugeExtentsAreRefusedWithoutOverflow() {
        let header: [UInt8] = [0, 0, 0x0E, 2, 0x80, 0, 0, 0, 0x80, 0, 0, 0, 1, 2, 3]
        do {
            _ = try IDX.read(Data(header), name: "huge.idx")
            Issue.record("accepted")
        } catch let e as DataError {
            #expect(e.description.contains("2147483648×2147483648 values of f64 need more than 2^63 bytes"))
        } catch { Issue.record("\(error)") }
    }

    /// Found by the GGUF fuzzer: extents that are empty in GGUF's order but overflow in row-major order.
    @Test func extentsThatOverflowInEitherOrderAreRefused() {
        var gguf = Data("GGUF".utf8)
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { gguf.append(contentsOf: $0) } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { gguf.append(contentsOf: $0) } }
        u32(3); u64(1); u64(0)
        u64(1); gguf.append(UInt8(ascii: "t")); u32(3); u64(0); u64(1 << 40); u64(1 << 40); u32(0); u64(0)
        gguf.append(contentsOf: [UInt8](repeating: 0, count: 64))
        #expect(throws: DataError.self) { try GGUF.read(gguf, name: "empty-overflow.gguf") }
        let header = #"{"t": {"dtype": "F32", "shape": [4611686018427387904, 4], "data_offsets": [0, 0]}}"#
        var st = Data()
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { st.append(contentsOf: $0) }
        st.append(contentsOf: Array(header.utf8))
        #expect(throws: DataError.self) { try Safetensors.read(st, name: "overflow.safetensors") }
    }

    @Test func garbageIsRefusedEverywhere() {
        let junk = Data((0..<64).map { UInt8($0 * 37 % 251) })
        #expect(throws: DataError.self) { try Npz.read(junk, name: "j") }
        #expect(throws: DataError.self) { try Safetensors.read(junk, name: "j") }
        #expect(throws: DataError.self) { try IDX.read(junk, name: "j") }
        #expect(throws: DataError.self) { try GGUF.read(junk, name: "j") }
        #expect(throws: DataError.self) { try IDX.read(Data([0x1f, 0x8b, 1, 2, 3]), name: "j.gz") }
        #expect(throws: DataError.self) { try Safetensors.read(Data(), name: "j") }
    }

    /// Files squeeze writes, read by numpy and by the safetensors package (Scripts/test's venv).
    @Test func numpyAndSafetensorsReadWhatWeWrite() throws {
        guard let python = ProcessInfo.processInfo.environment["SQUEEZE_TEST_PYTHON"] else {
            print("note: SQUEEZE_TEST_PYTHON is not set (Scripts/test sets it); numpy/safetensors read-back skipped")
            return
        }
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("sq-fmt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: tmp) }
        let a = Tensor(shape: [2, 3], storage: [0.1, -2, 3.5, .infinity, 1e-30, 7])
        try Data(Npz.write([("a", a)], compressed: true)).write(to: tmp.appendingPathComponent("w.npz"))
        try Data(try Safetensors.write([("a", a)])).write(to: tmp.appendingPathComponent("w.safetensors"))
        let script = """
        import sys, numpy as np
        from safetensors.numpy import load_file
        want = np.array([0.1, -2, 3.5, np.inf, 1e-30, 7], dtype=np.float32).reshape(2, 3)
        a = np.load(sys.argv[1] + "/w.npz")["a"]
        b = load_file(sys.argv[1] + "/w.safetensors")["a"]
        assert a.dtype == np.float32 and a.tobytes() == want.tobytes(), a
        assert b.dtype == np.float32 and b.tobytes() == want.tobytes(), b
        print("ok")
        """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = ["-c", script, tmp.path]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(o == "ok\n", "\(e)")
    }
}

/// The named data sets, after Scripts/setup: shapes, label counts, known pixel sums.
@Suite struct DataCatalogTests {
    @Test func digits() throws {
        let d = try DataCatalog.load("digits")
        let X = try #require(d.fields.first { $0.0 == "X" }?.1), y = try #require(d.fields.first { $0.0 == "labels" }?.1)
        #expect(X.shape == [1797, 64] && y.shape == [1797])
        // scikit-learn: np.bincount(load_digits().target) and load_digits().data.sum().
        #expect((0..<10).map { c in y.storage.filter { $0 == Float(c) }.count } == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180])
        #expect(X.storage.reduce(0.0) { $0 + Double($1) } == 561718)
        #expect(d.fields.first { $0.0 == "images" }?.1.shape == [1797, 8, 8])
    }

    @Test func fashionMNIST() throws {
        let test = try DataCatalog.load("fashion-mnist", split: "test")
        let X = try #require(test.fields.first { $0.0 == "X" }?.1), y = try #require(test.fields.first { $0.0 == "labels" }?.1)
        #expect(X.shape == [10000, 784] && y.shape == [10000])
        #expect((0..<10).allSatisfy { c in y.storage.filter { $0 == Float(c) }.count == 1000 })
        let few = try DataCatalog.load("fashion-mnist", limit: 5)
        #expect(few.fields.first { $0.0 == "images" }?.1.shape == [5, 28, 28])
    }

    @Test func mnist5kCameraAndMiniLM() throws {
        let m = try DataCatalog.load("mnist-5k")
        let y = try #require(m.fields.first { $0.0 == "labels" }?.1)
        #expect(m.fields.first?.1.shape == [5000, 784])
        #expect((0..<10).allSatisfy { c in y.storage.filter { $0 == Float(c) }.count == 500 })
        let c = try DataCatalog.load("camera")
        #expect(c.fields.first?.1.shape == [512, 512])
        let l = try DataCatalog.load("minilm")
        #expect(l.fields.count == 104)
        #expect(l.fields.first { $0.0 == "embeddings.word_embeddings.weight" }?.1.shape == [30522, 384])
    }

    @Test func unknownNamesSuggestTheCatalog() {
        do {
            _ = try DataCatalog.load("digitz")
            Issue.record("accepted")
        } catch let e as DataError {
            #expect(e.description.contains("known: digits, fashion-mnist"))
        } catch {
            Issue.record("\(error)")
        }
    }
}

/// Synthetic generators: shapes, labels, geometry, reproducibility.
@Suite struct SyntheticTests {
    @Test func subspacePointsLieInTheirSubspaces() throws {
        var g = RandomGenerator(seed: 1)
        let s = try Synthetic.subspaces(n: 90, ambient: 12, dim: 2, count: 3, noise: 0, rng: &g)
        #expect(s.X.shape == [90, 12] && s.labels.filter { $0 == 2 }.count == 30)
        let B = try #require(s.extra.first?.1)
        // ‖U Uᵀ x − x‖ ≈ 0 for every point of subspace k, and ‖x‖ = 1.
        for i in Swift.stride(from: 0, to: 90, by: 7) {
            let k = s.labels[i]
            let x = (0..<12).map { Double(s.X.storage[i * 12 + $0]) }
            let U = (0..<12).map { a in (0..<2).map { j in Double(B.storage[(k * 12 + a) * 2 + j]) } }
            let c = (0..<2).map { j in (0..<12).reduce(0.0) { $0 + U[$1][j] * x[$1] } }
            let residual = (0..<12).reduce(0.0) { acc, a in let r = x[a] - (U[a][0] * c[0] + U[a][1] * c[1]); return acc + r * r }
            #expect(residual < 1e-10)
            #expect(abs(x.reduce(0) { $0 + $1 * $1 } - 1) < 1e-5)
        }
    }

    @Test func manifoldsKeepTheirIntrinsicGeometry() throws {
        var g = RandomGenerator(seed: 2)
        let m = try Synthetic.manifolds(kind: "circles", n: 100, ambient: 6, noise: 0, rng: &g)
        // A rotation preserves norms: every point has radius 1 or ½.
        for i in 0..<100 {
            let r = (0..<6).reduce(0.0) { $0 + Double(m.X.storage[i * 6 + $1]) * Double(m.X.storage[i * 6 + $1]) }.squareRoot()
            #expect(abs(r - (m.labels[i] == 0 ? 1 : 0.5)) < 1e-5)
        }
        for kind in Synthetic.manifoldKinds {
            var a = RandomGenerator(seed: 3), b = RandomGenerator(seed: 3)
            let x = try Synthetic.manifolds(kind: kind, n: 50, ambient: 5, noise: 0.1, rng: &a)
            let y = try Synthetic.manifolds(kind: kind, n: 50, ambient: 5, noise: 0.1, rng: &b)
            #expect(x.X == y.X && x.labels == y.labels)
        }
        #expect(throws: CoreError.self) { try Synthetic.manifolds(kind: "spheres", n: 10, ambient: 2, noise: 0, rng: &g) }
    }

    @Test func mixtureCentresAreTheClusterMeans() throws {
        var g = RandomGenerator(seed: 4)
        let m = try Synthetic.mixture(n: 30000, k: 3, dim: 2, spread: 10, rng: &g)
        let C = try #require(m.extra.first?.1)
        for c in 0..<3 {
            let idx = m.labels.indices.filter { m.labels[$0] == c }
            for j in 0..<2 {
                let mean = idx.reduce(0.0) { $0 + Double(m.X.storage[$1 * 2 + j]) } / Double(idx.count)
                #expect(abs(mean - Double(C.storage[c * 2 + j])) < 0.05)   // 4σ for 10,000 unit-variance draws
            }
        }
    }
}
