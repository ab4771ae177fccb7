import Foundation
import Recipe
import Testing

/// The write sandbox against symbolic links and path tricks, on a real directory tree.
@Suite struct SandboxTests {
    let root: URL
    let out: URL
    let outside: URL

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("squeeze-sandbox-\(UUID().uuidString)")
        out = root.appendingPathComponent("out")
        outside = root.appendingPathComponent("outside")
        for d in [out, outside] { try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true) }
        let fm = FileManager.default
        try fm.createSymbolicLink(atPath: out.appendingPathComponent("link-out").path, withDestinationPath: outside.path)
        try fm.createSymbolicLink(atPath: out.appendingPathComponent("dangling").path,
                                  withDestinationPath: outside.appendingPathComponent("new-file.npy").path)
        try fm.createSymbolicLink(atPath: out.appendingPathComponent("link-in").path, withDestinationPath: out.appendingPathComponent("sub").path)
        try fm.createDirectory(at: out.appendingPathComponent("sub"), withIntermediateDirectories: true)
    }

    var sandbox: Sandbox { Sandbox(baseDirectory: root, outputDirectory: out) }

    @Test func allowsPlainRelativeAndNestedPaths() throws {
        #expect(try sandbox.resolveWrite("a.npy").lastPathComponent == "a.npy")
        #expect(try sandbox.resolveWrite("new/dir/a.npy").path.hasSuffix("/out/new/dir/a.npy"))
        #expect(try sandbox.resolveWrite("link-in/a.npy").path.hasSuffix("/out/sub/a.npy"))
        #expect(try sandbox.resolveWrite(out.appendingPathComponent("abs.npy").path).lastPathComponent == "abs.npy")
    }

    @Test func refusesEscapes() {
        for path in ["../x.npy", "sub/../../x.npy", "/etc/passwd", outside.appendingPathComponent("x.npy").path,
                     "link-out/x.npy", "dangling", ".squeeze/history.db", "sub/.squeeze/x", ""] {
            #expect(throws: Sandbox.Refusal.self, "\(path) should be refused") { try sandbox.resolveWrite(path) }
        }
    }

    @Test func allowWriteExtendsTheRoots() throws {
        let s = Sandbox(baseDirectory: root, outputDirectory: out, allowedWriteDirectories: [outside])
        #expect(try s.resolveWrite(outside.appendingPathComponent("ok.npy").path).lastPathComponent == "ok.npy")
        #expect(try s.resolveWrite("link-out/ok.npy").path.hasSuffix("/outside/ok.npy"))
    }
}
