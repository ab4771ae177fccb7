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
        #expect(Registry.families == ["language", "recording", "data", "tensor", "linear algebra", "compression", "kv cache", "metrics", "clustering", "models", "autodiff", "training", "communication", "plots"])
    }

    @Test func suggestionsUseEditDistance() {
        #expect(Suggest.distance("svd", "svdd") == 1)
        #expect(Suggest.distance("ab", "ba") == 1)
        #expect(Suggest.closest(to: "eigen", in: ["eigh", "eye", "exp"]) == "eigh")
        #expect(Suggest.closest(to: "zzzzzz", in: ["svd"]) == nil)
    }
}

@Suite struct DocumentationTests {
    static func read(_ path: String) throws -> String {
        try String(contentsOf: CLI.package.appendingPathComponent(path), encoding: .utf8)
    }

    @Test func operationReferenceMatchesTheRegistry() throws {
        let reference = try Self.read("docs/operations.md")
        #expect(reference == Registry.markdownReference(), "docs/operations.md is stale: run Scripts/generate/docs.sh")
    }

    @Test func readmeIsALandingPageWithTheTwoCommands() throws {
        let readme = try Self.read("README.md")
        #expect(readme.hasPrefix("# squeeze"))
        #expect(readme.contains("```sh\nScripts/squeeze run Examples/quickstart.recipe\nScripts/test\n```"))
        #expect(readme.utf8.count < 12_000, "README is the landing page: guides and reference live under docs/")
    }

    /// Every relative link in README, ARCHITECTURE and docs/ names a file that exists.
    @Test func relativeLinksResolve() throws {
        let docs = try FileManager.default.contentsOfDirectory(atPath: CLI.package.appendingPathComponent("docs").path)
            .filter { $0.hasSuffix(".md") }.map { "docs/\($0)" }
        for page in ["README.md", "ARCHITECTURE.md"] + docs {
            let text = try Self.read(page)
            let base = URL(fileURLWithPath: page).deletingLastPathComponent().relativePath
            let links = text.matches(of: /\]\(([^)#:]+)(#[^)]*)?\)/).map { String($0.output.1) }
            for link in links {
                let path = CLI.package.appendingPathComponent(base == "." ? link : "\(base)/\(link)").standardizedFileURL.path
                #expect(FileManager.default.fileExists(atPath: path), "\(page) links to \(link), which does not exist")
            }
        }
    }
}
