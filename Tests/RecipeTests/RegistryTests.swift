import Foundation
import Recipe
import Testing

/// Every operation is documented and its example runs.
@Suite struct RegistryTests {
    @Test(arguments: Registry.operations.map(\.name))
    func exampleRuns(name: String) throws {
        let op = try #require(Registry.byName[name])
        #expect(!op.summary.isEmpty && !op.example.isEmpty && !op.family.isEmpty)
        #expect(op.help.contains("Example:"))
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("squeeze-example-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: out) }
        let (_, error) = Golden.run(op.example, name: "example of \(name)", outDir: out)
        #expect(error == nil, "\(error?.render() ?? "")")
    }

    @Test func everyOperationIsReachableByItsName() {
        for op in Registry.operations { #expect(Registry.value(named: op.name) != nil) }
        #expect(Registry.families == ["language", "recording", "data", "tensor", "linear algebra", "compression", "metrics", "clustering", "models", "plots"])
    }

    @Test func suggestionsUseEditDistance() {
        #expect(Suggest.distance("svd", "svdd") == 1)
        #expect(Suggest.distance("ab", "ba") == 1)
        #expect(Suggest.closest(to: "eigen", in: ["eigh", "eye", "exp"]) == "eigh")
        #expect(Suggest.closest(to: "zzzzzz", in: ["svd"]) == nil)
    }
}

@Suite struct DocumentationTests {
    @Test func readmeOperationTableMatchesTheRegistry() throws {
        let readme = try String(contentsOf: CLI.package.appendingPathComponent("README.md"), encoding: .utf8)
        #expect(readme.contains(Registry.markdownTable()), "README's table is stale: paste `squeeze help --markdown`")
        #expect(readme.hasPrefix("# squeeze"))
        #expect(readme.contains("```sh\nScripts/squeeze run Examples/quickstart.recipe\nScripts/test\n```"))
    }
}
