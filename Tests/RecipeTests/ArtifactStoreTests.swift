import Foundation
import Testing

/// Issue 27.2: the history keeps what each run wrote, in a content-addressed store beside the
/// database, so runs that write the same path no longer take each other's results away.
@Suite struct ArtifactStoreTests {
    /// A recipe whose output file depends on a parameter: one path, different bytes per run.
    static let recipe = """
        param scale = 1
        W = ones([4, 3]) * scale
        save(W, "w.npy")
        plot.line([1, 2, 3], [1, scale, 3], to: "w.png")
        log(scale: scale)

        """

    func storedFiles(_ ws: Workspace) -> [String] {
        let root = ws.dir.appendingPathComponent(".squeeze/artifacts")
        let files = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil)?.compactMap { $0 as? URL } ?? []
        return files.filter { !$0.hasDirectoryPath }.map(\.lastPathComponent).sorted()
    }

    func bytes(_ ws: Workspace, _ name: String) throws -> Data { try Data(contentsOf: ws.dir.appendingPathComponent(name)) }

    @Test func eachRunGetsBackWhatItWroteThoughALaterRunOverwroteThePath() throws {
        let ws = try Workspace()
        try ws.write("s.recipe", Self.recipe)
        #expect(try ws.run("run", "s.recipe", "-p", "scale=2").status == 0)
        let first = try bytes(ws, "w.npy"), firstPlot = try bytes(ws, "w.png")
        #expect(try ws.run("run", "s.recipe", "-p", "scale=5").status == 0)
        #expect(try bytes(ws, "w.npy") != first)

        let got = try ws.run("artifact", "1", "w.npy", "-o", "back.npy")
        #expect(got.status == 0, "\(got.stderr)")
        #expect(try bytes(ws, "back.npy") == first)
        // The -N form and the file name alone work too.
        #expect(try ws.run("artifact", "-2", "w.png", "-o", "back.png").status == 0)
        #expect(try bytes(ws, "back.png") == firstPlot)

        let list = try ws.run("artifact", "1")
        #expect(list.status == 0 && list.stdout.contains("w.npy") && list.stdout.contains("stored"), "\(list.stdout)")
        let show = try ws.run("show", "1")
        #expect(show.stdout.contains("copy") && show.stdout.contains("squeeze artifact 1 PATH"), "\(show.stdout)")

        // Exports use the stored copy: the notebook embeds run 1's plot, the report links to it.
        let ipynb = try ws.run("export", "1", "--format", "ipynb")
        #expect(ipynb.stdout.contains(firstPlot.base64EncodedString()))
        let md = try ws.run("export", "1", "--format", "md", "-o", "report.md")
        #expect(md.status == 0)
        let report = try String(contentsOf: ws.dir.appendingPathComponent("report.md"), encoding: .utf8)
        let link = try #require(report.split(separator: "\n").first { $0.hasPrefix("Wrote [w.npy](") })
        let target = String(link.split(separator: "(")[1].split(separator: ")")[0])
        #expect(target.hasPrefix(".squeeze/artifacts/"), "\(link)")
        #expect(try Data(contentsOf: ws.dir.appendingPathComponent(target)) == first)

        let doctor = try ws.run("doctor")
        #expect(doctor.stdout.contains("artifact store: 4 stored (4 distinct copies"), "\(doctor.stdout)")
        #expect(doctor.stdout.contains("files at the runs' paths: 2 unchanged, 2 changed since their run, 0 missing"), "\(doctor.stdout)")
    }

    @Test func equalContentIsStoredOnce() throws {
        let ws = try Workspace()
        try ws.write("s.recipe", Self.recipe)
        for _ in 0..<3 { #expect(try ws.run("run", "s.recipe").status == 0) }
        #expect(storedFiles(ws).count == 2, "\(storedFiles(ws))")
        #expect(storedFiles(ws).allSatisfy { $0.count == 64 + 4 && ($0.hasSuffix(".npy") || $0.hasSuffix(".png")) })
    }

    @Test func filesOverTheLimitAreRecordedByHashOnlyAndSaySo() throws {
        let ws = try Workspace()
        try ws.write("s.recipe", Self.recipe)
        let bad = try ws.run("run", "s.recipe", "--artifact-limit", "12x")
        #expect(bad.status == 64 && bad.stderr.contains("--artifact-limit: expected a size"), "\(bad.stderr)")
        // The 4×3 float32 .npy is 176 bytes, the plot several kilobytes: a 1K limit keeps only the .npy.
        #expect(try ws.run("run", "s.recipe", "--artifact-limit", "1K").status == 0)
        let list = try ws.run("artifact", "last").stdout
        let rows = list.split(separator: "\n")
        #expect(rows.contains { $0.hasPrefix("w.npy") && $0.hasSuffix("stored") }, "\(list)")
        #expect(rows.contains { $0.hasPrefix("w.png") && $0.hasSuffix("hash only") }, "\(list)")
        // While the file still holds the run's bytes it is the copy; once changed, the loss is explained.
        #expect(try ws.run("artifact", "last", "w.png", "-o", "p.png").status == 0)
        try Data([0]).write(to: ws.dir.appendingPathComponent("w.png"))
        let lost = try ws.run("artifact", "last", "w.png", "-o", "p.png")
        #expect(lost.status == 74 && lost.stderr.contains("the history kept no copy"), "\(lost.stderr)")
        #expect(try ws.run("doctor").stdout.contains("1 recorded by hash only"))
        // 0 copies nothing: the .npy, whose bytes the store already holds, stays stored; the plot is hash only.
        #expect(try ws.run("run", "s.recipe", "--artifact-limit", "0").status == 0)
        let zero = try ws.run("artifact", "last").stdout.split(separator: "\n")
        #expect(zero.contains { $0.hasPrefix("w.npy") && $0.hasSuffix("stored") } && zero.contains { $0.hasSuffix("hash only") })
    }

    @Test func doctorReportsAStoredCopyThatWentMissing() throws {
        let ws = try Workspace()
        try ws.write("s.recipe", Self.recipe)
        #expect(try ws.run("run", "s.recipe").status == 0)
        let root = ws.dir.appendingPathComponent(".squeeze/artifacts")
        let npy = try #require(FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil)?
            .compactMap { $0 as? URL }.first { $0.pathExtension == "npy" })
        try Data([1, 2]).write(to: npy)
        let doctor = try ws.run("doctor").stdout
        #expect(doctor.contains("1 stored copy missing or damaged") && doctor.contains("missing copy  run 1: w.npy"), "\(doctor)")
        #expect(try ws.run("show", "1").stdout.contains("missing"))
        // The file at its path is unchanged, so it still serves.
        #expect(try ws.run("artifact", "1", "w.npy", "-o", "x.npy").status == 0)
    }

    @Test func unknownAndAmbiguousPathsAreExplained() throws {
        let ws = try Workspace()
        try FileManager.default.createDirectory(at: ws.dir.appendingPathComponent("a"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: ws.dir.appendingPathComponent("b"), withIntermediateDirectories: true)
        try ws.write("s.recipe", "save(ones(2), \"a/x.npy\")\nsave(ones(3), \"b/x.npy\")\n")
        #expect(try ws.run("run", "s.recipe").status == 0)
        let none = try ws.run("artifact", "1", "y.npy")
        #expect(none.status == 64 && none.stderr.contains("run 1 wrote no file 'y.npy'; it wrote: a/x.npy, b/x.npy"), "\(none.stderr)")
        let two = try ws.run("artifact", "1", "x.npy")
        #expect(two.status == 64 && two.stderr.contains("names 2 files of run 1"), "\(two.stderr)")
        #expect(try ws.run("artifact", "1", "b/x.npy", "-o", "out.npy").status == 0)
        #expect(try bytes(ws, "out.npy") == bytes(ws, "b/x.npy"))
    }

    @Test func aRecipeCannotWriteIntoTheStore() throws {
        let ws = try Workspace()
        try ws.write("s.recipe", "save(ones(2), \"h/artifacts/x.npy\")\n")
        let r = try ws.run("run", "s.recipe", "--history", "h/history.db")
        #expect(r.status == 70 && r.stderr.contains("history"), "\(r.stderr)")
    }
}
