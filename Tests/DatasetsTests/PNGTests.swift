import Datasets
import Foundation
import Testing

@Suite struct PNGReadTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/png")

    @Test(arguments: ["gray8", "gray16", "rgb8", "rgba8", "palette", "gray1"])
    func readsEveryColourTypeLikeItsEncoder(_ name: String) throws {
        let expected = try JSONSerialization.jsonObject(with: Data(contentsOf: PNGReadTests.fixtures.appendingPathComponent("png_expected.json"))) as? [String: [String: Any]]
        let e = try #require(expected?[name])
        let img = try PNGDecoder.decode(Data(contentsOf: PNGReadTests.fixtures.appendingPathComponent("\(name).png")))
        let shape = e["shape"] as? [Int] ?? []
        #expect([img.height, img.width] + (img.channels > 1 ? [img.channels] : []) == shape)
        let values = e["values"] as? [Double] ?? []
        #expect(values.count == img.values.count)
        for (a, b) in zip(img.values, values) { #expect(abs(Double(a) - b) < 1e-6, "\(name)") }
    }

    @Test func rejectsWhatIsNotAPNG() {
        #expect(throws: PNGDecoder.Failure.self) { try PNGDecoder.decode(Data("not a png".utf8)) }
        #expect(throws: PNGDecoder.Failure.self) { try PNGDecoder.decode(Data()) }
        // A valid signature and header, truncated data.
        let truncated = (try? Data(contentsOf: PNGReadTests.fixtures.appendingPathComponent("rgb8.png")))?.prefix(40) ?? Data()
        #expect(throws: PNGDecoder.Failure.self) { try PNGDecoder.decode(truncated) }
    }
}
