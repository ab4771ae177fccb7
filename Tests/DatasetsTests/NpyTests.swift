import Datasets
import Foundation
import SqueezeCore
import Testing

/// `.npy` files written by numpy itself (Fixtures/make_fixtures.py), read back exactly.
@Suite struct NpyTests {
    static let dir = Bundle.module.resourceURL!.appendingPathComponent("Fixtures")

    static func expected() throws -> [String: Tensor] {
        let data = try Data(contentsOf: dir.appendingPathComponent("expected.json"))
        let json = try JSONSerialization.jsonObject(with: data) as? [String: [String: Any]] ?? [:]
        return json.mapValues { e in
            let shape = (e["shape"] as? [NSNumber] ?? []).map(\.intValue)
            let values = (e["data"] as? [NSNumber] ?? []).map { Float($0.doubleValue) }
            return Tensor(shape: shape, storage: values)
        }
    }

    static func bytes(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: dir.appendingPathComponent("\(name).npy")))
    }

    @Test(arguments: ["f4_c", "f8_big", "f2", "i2_big", "i8", "u1", "b1", "fortran", "scalar", "empty", "v2", "v3"])
    func readsWhatNumpyWrote(name: String) throws {
        let want = try #require(try NpyTests.expected()[name])
        let got = try Npy.read(try NpyTests.bytes(name), name: name)
        #expect(got == want)
    }

    @Test func refusesObjectAndStructuredArrays() throws {
        #expect(throws: DataError.self) { try Npy.read(try NpyTests.bytes("object"), name: "object.npy") }
        do {
            _ = try Npy.read(try NpyTests.bytes("structured"), name: "structured.npy")
            Issue.record("structured dtype was accepted")
        } catch let e as DataError {
            #expect(e.description.contains("structured dtypes are not supported"))
        }
    }

    @Test func malformedFilesNameTheByte() throws {
        var b = try NpyTests.bytes("f4_c")
        #expect(throws: DataError.self) { try Npy.read(Array(b.prefix(5)), name: "x") }
        b.removeLast(3)   // truncated data
        do {
            _ = try Npy.read(b, name: "t.npy")
            Issue.record("truncated file accepted")
        } catch let e as DataError {
            #expect(e.description.hasPrefix("t.npy: byte 128: the data is truncated"))
        }
        var v = try NpyTests.bytes("f4_c")
        v[6] = 9
        #expect(throws: DataError.self) { try Npy.read(v, name: "x") }
    }

    @Test func writeRoundTripsAndMatchesNumpyLayout() throws {
        let t = Tensor(shape: [2, 3], storage: [1.5, -2, 3.25, 0, 7, -8.5])
        let bytes = Npy.write(t)
        #expect(try Npy.read(bytes, name: "w") == t)
        // Byte for byte what numpy.save writes for the same array.
        #expect(bytes == (try NpyTests.bytes("f4_c")))
        let v = Tensor([1, 2, 3])
        #expect(try Npy.read(Npy.write(v), name: "v") == v)
    }

    @Test func csvReadsHeaderAndRejectsRaggedRows() throws {
        let t = try CSV.read("a,b\n1,2\n3.5,-4\n\n", name: "c.csv")
        #expect(t.header == ["a", "b"])
        #expect(t.rows == Tensor(shape: [2, 2], storage: [1, 2, 3.5, -4]))
        #expect(throws: DataError.self) { try CSV.read("1,2\n3\n", name: "r.csv") }
        #expect(throws: DataError.self) { try CSV.read("1,2\n3,x\n", name: "r.csv") }
        let back = try CSV.read(CSV.write(t.rows), name: "w")
        #expect(back.rows == t.rows && back.header == nil)
    }
}

/// numpy's own loader test files (Fixtures/numpy-tests, copied by its script from numpy/lib/tests/data).
@Suite struct NumpyTestFiles {
    static let dir = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/numpy-tests")

    static func data(_ name: String) throws -> Data { try Data(contentsOf: dir.appendingPathComponent(name)) }

    /// A Python 2 header from Windows writes the shape `(2L,)`; numpy reads it as [1, 1].
    @Test(arguments: ["python3.npy", "win64python2.npy"])
    func readsWhatNumpyReads(name: String) throws {
        let t = try Npy.read(Array(try Self.data(name)), name: name)
        #expect(t == Tensor(shape: [2], storage: [1, 1]))
    }

    /// Object arrays, in .npy or inside .npz, Python 2 or 3, are refused with the same message.
    @Test(arguments: ["py3-objarr.npy", "py2-objarr.npy", "py2-np0-objarr.npy", "py3-objarr.npz", "py2-objarr.npz"])
    func objectArraysAreRefusedAlike(name: String) throws {
        do {
            if name.hasSuffix(".npz") {
                _ = try Npz.read(try Self.data(name), name: name)
            } else {
                _ = try Npy.read(Array(try Self.data(name)), name: name)
            }
            Issue.record("\(name) was read")
        } catch {
            #expect("\(error)".contains("object arrays are refused: loading them would unpickle Python objects"), "\(error)")
        }
    }
}
