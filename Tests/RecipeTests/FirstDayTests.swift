import Foundation
import Testing

/// What a new user hit on the first day (issue 27), each reproduced as it was reported.
@Suite struct FirstDayTests {
    /// 4. `show -1`, `diff -1 -2`, `replay -1` and `export -1` take -N as the N-th newest run.
    @Test func negativeRunReferencesAreRunsNotFlags() throws {
        let ws = try Workspace()
        try ws.write("a.recipe", "param k = 1\nlog(v: k)\n")
        try ws.run("run", "a.recipe", "-p", "k=1")
        try ws.run("run", "a.recipe", "-p", "k=2")
        let show = try ws.run("show", "-1")
        #expect(show.status == 0, "\(show.stderr)")
        #expect(show.stdout.hasPrefix("run 2 "))
        let diff = try ws.run("diff", "-1", "-2")
        #expect(diff.status == 0, "\(diff.stderr)")
        #expect(diff.stdout.contains("--- run 2") && diff.stdout.contains("+++ run 1"))
        let replay = try ws.run("replay", "-2")
        #expect(replay.status == 0, "\(replay.stderr)")
        #expect(replay.stdout.contains("of run 1"))
        let export = try ws.run("export", "-1", "--format", "json")
        #expect(export.status == 0 && export.stdout.contains("\"id\""), "\(export.stderr)")
    }
}
