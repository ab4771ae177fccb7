import Foundation
import Recipe
import Testing

/// Broken recipes (`Tests/BrokenRecipes/`): every syntax error is reported, in source order, with
/// the message its trailing `# expect syntax: line:col: message` comments give, and nothing else.
@Suite struct BrokenRecipeTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("BrokenRecipes")

    static var files: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []).filter { $0.hasSuffix(".recipe") }.sorted()
    }

    @Test func thereAreTenBrokenFiles() { #expect(Self.files.count >= 10) }

    @Test(arguments: files)
    func everySyntaxErrorInOrder(_ name: String) throws {
        let text = try String(contentsOf: Self.root.appendingPathComponent(name), encoding: .utf8)
        let expected = text.split(separator: "\n").compactMap { line -> String? in
            guard let r = line.range(of: "# expect syntax: ") else { return nil }
            return String(line[r.upperBound...])
        }
        #expect(!expected.isEmpty)
        let file = SourceFile(name: name, text: text)
        let program = Parser.parse(file)
        let got = program.diagnostics.map { d -> String in
            let (line, column) = d.span.map { file.location(of: $0.start) } ?? (0, 0)
            return "\(line):\(column): \(d.message)"
        }
        #expect(got == expected)
    }
}
