import Foundation
import Testing
@testable import History
import Recipe
@testable import Runs

/// Three seeds of k = 4 and two of k = 8, with known accuracies.
func sampleStore(_ s: Scratch) throws -> HistoryStore {
    let store = try HistoryStore(path: s.db)
    let recipe = "param k = 4\nparam method = \"kmeans\"\nlog(accuracy: acc)\n"
    let runs: [(Double, Double, String)] = [(4, 0.5, "kmeans"), (4, 0.7, "kmeans"), (4, 0.9, "kmeans"), (8, 0.95, "mlc"), (8, 0.85, "kmeans")]
    for (k, acc, method) in runs {
        _ = try record(store, recipe.replacingOccurrences(of: "acc)", with: "\(acc))"),
                       overrides: ["k": .number(k), "method": .string(method)])
    }
    return store
}

@Suite struct QueryTests {
    @Test func whereFiltersOnParametersAndMetrics() throws {
        let s = try Scratch()
        let runs = try sampleStore(s).runs()
        var t = RunTable()
        t.filter = try RunFilter("accuracy > 0.8 and k == 8")
        #expect(try t.select(runs).map(\.id) == [4, 5])
        t.filter = try RunFilter("method == \"mlc\" or accuracy < 0.6")
        #expect(try t.select(runs).map(\.id) == [1, 4])
        t.filter = try RunFilter("not (k == 4)")
        #expect(try t.select(runs).map(\.id) == [4, 5])
        t.filter = try RunFilter("id >= 4 and status == \"completed\"")
        #expect(try t.select(runs).map(\.id) == [4, 5])
    }

    @Test func whereRejectsUnknownNamesWithASuggestion() throws {
        let s = try Scratch()
        let runs = try sampleStore(s).runs()
        var t = RunTable()
        t.filter = try RunFilter("acuracy > 0.8")
        do {
            _ = try t.select(runs)
            Issue.record("an unknown name was accepted")
        } catch let d as Diagnostic {
            #expect(d.message == "unknown name 'acuracy'")
            #expect(d.suggestion == "did you mean 'accuracy'?")
        }
        #expect(throws: Diagnostic.self) { try RunFilter("k ==") }
        #expect(throws: Diagnostic.self) { try RunFilter("k = 3") }
    }

    @Test func runsWithoutAMetricDoNotMatchFiltersOnIt() throws {
        let s = try Scratch()
        let store = try sampleStore(s)
        _ = try record(store, "param k = 4\nlog(other: 1)\n")
        var t = RunTable()
        t.filter = try RunFilter("accuracy > 0")
        #expect(try t.select(try store.runs()).count == 5)
    }

    @Test func sortsAscendingAndDescendingAndLimits() throws {
        let s = try Scratch()
        let runs = try sampleStore(s).runs()
        var t = RunTable()
        t.sort = "-accuracy"
        #expect(try t.select(runs).map(\.id) == [4, 3, 5, 2, 1])
        t.sort = "accuracy"
        t.limit = 2
        #expect(try t.select(runs).map(\.id) == [1, 2])
        t.sort = nil
        #expect(try t.select(runs).map(\.id) == [4, 5])   // the newest two
        t.sort = "acc"
        #expect(throws: HistoryQueryError.self) { try t.select(runs) }
    }

    @Test func listingShowsOnlyParametersThatVary() throws {
        let s = try Scratch()
        let store = try sampleStore(s)
        let l = try RunTable().listing(try store.runs())
        #expect(l.header == ["id", "when", "recipe", "kind", "status", "duration", "k", "method", "accuracy"])
        #expect(l.rows.map { $0[6] } == ["4", "4", "4", "8", "8"])
        #expect(l.rows.map { $0[8] } == ["0.5", "0.7", "0.9", "0.95", "0.85"])
        let one = try RunTable().listing([try store.run(1)])
        #expect(one.header.contains("k") && one.header.contains("method"))
    }

    @Test func groupByAggregatesOverSeeds() throws {
        let s = try Scratch()
        let runs = try sampleStore(s).runs()
        var t = RunTable()
        t.groupBy = ["k"]
        t.aggregates = ["mean", "std", "min", "max", "median", "count"]
        let g = try t.grouped(runs)
        #expect(g.header == ["k", "runs", "accuracy mean", "accuracy std", "accuracy min", "accuracy max", "accuracy median", "accuracy count"])
        #expect(g.groups.count == 2)
        let four = try #require(g.groups.first?.values["accuracy"])
        // pandas: Series([0.5, 0.7, 0.9]).std() == 0.2 (n − 1); mean 0.7.
        #expect(abs((four["mean"] ?? 0) - 0.7) < 1e-15)
        #expect(abs((four["std"] ?? 0) - 0.2) < 1e-15)
        #expect(four["min"] == 0.5 && four["max"] == 0.9 && four["median"] == 0.7 && four["count"] == 3)
        let eight = try #require(g.groups.last?.values["accuracy"])
        // Series([0.95, 0.85]).std() == 0.07071067811865478
        #expect(abs((eight["std"] ?? 0) - 0.07071067811865478) < 1e-15)
        t.aggregates = ["mean", "std"]
        #expect(try t.grouped(runs).rows.first == ["4", "3", "0.7 ± 0.2"])
        t.aggregates = ["mode"]
        #expect(throws: HistoryQueryError.self) { try t.grouped(runs) }
    }

    @Test func equalValuesHaveZeroSpread() {
        #expect(RunTable.aggregate("std", [0.8200000000000001, 0.8200000000000001, 0.8200000000000001]) == 0)
        #expect(RunTable.aggregate("mean", [0.1, 0.1, 0.1]) == 0.1)
        #expect(RunTable.aggregate("std", [1]).isNaN)
        #expect(RunTable.aggregate("mean", []).isNaN)
    }

    @Test func csvQuotesAndJsonHasTheRunFields() throws {
        #expect(TextTable.csv(header: ["a", "b"], rows: [["1,5", "say \"hi\""]]) == "a,b\n\"1,5\",\"say \"\"hi\"\"\"\n")
        let s = try Scratch()
        let run = try sampleStore(s).run(4)
        let json = Report.json(run)
        #expect(json["id"] as? Int == 4)
        #expect(json["status"] as? String == "completed")
        #expect((json["params"] as? [String: Any])?["k"] as? Int == 8)
        #expect((json["params"] as? [String: Any])?["method"] as? String == "mlc")
        #expect((json["metrics"] as? [String: Any])?["accuracy"] as? Double == 0.95)
        let text = TextTable.json([json])
        let parsed = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]]
        #expect(parsed?.count == 1)
    }
}

@Suite struct ReportTests {
    /// Our unified diff must equal GNU diff's for the same inputs (hunk headers included).
    @Test(arguments: [
        ("a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n", "a\nb\nc\nD\ne\nf\ng\nh\ni\nj\nk\n"),
        ("x = 1\ny = 2\n", "x = 1\ny = 3\nz = 4\n"),
        ("one\n", "two\n"),
        ("1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n15\n", "1\n2\nthree\n4\n5\n6\n7\n8\n9\n10\n11\n12\nthirteen\n14\n15\n"),
        ("a\nb\n", "b\n"),
    ])
    func unifiedDiffMatchesGNUDiff(a: String, b: String) throws {
        let s = try Scratch()
        let fa = s.url.appendingPathComponent("a"), fb = s.url.appendingPathComponent("b")
        try a.write(to: fa, atomically: true, encoding: .utf8)
        try b.write(to: fb, atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/diff")
        p.arguments = ["-u", "--label", "A", "--label", "B", fa.path, fb.path]
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let expected = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        let ours = UnifiedDiff.render(a, b, from: "A", to: "B")
        #expect(ours == expected)
    }

    @Test func showListsOverridesMetricsArtifactsAndSource() throws {
        let s = try Scratch()
        let run = try sampleStore(s).run(4)
        let text = Report.show(run)
        #expect(text.contains("run 4 · script · /x/t.recipe · completed"))
        #expect(text.contains("k       8      4         -p\n  method  \"mlc\"  \"kmeans\"  -p\n"))
        #expect(text.contains("accuracy  0.95"))
        #expect(text.contains("\n  1  param k = 4\n  2  param method"))
        #expect(text.contains("host"))
    }

    @Test func diffShowsOnlyWhatDiffers() throws {
        let s = try Scratch()
        let store = try sampleStore(s)
        let text = Report.diff(try store.run(1), try store.run(4))
        #expect(text.contains("parameters:"))
        #expect(text.contains("method  \"kmeans\""))
        #expect(text.contains("accuracy    0.5   0.95  +0.45 (+90.00%)"))
        #expect(!text.contains("environment:"))
        #expect(text.contains("@@ -1,3 +1,3 @@\n param k = 4\n param method = \"kmeans\"\n-log(accuracy: 0.5)\n+log(accuracy: 0.95)\n"))
        #expect(Report.diff(try store.run(1), try store.run(4), all: true).contains("environment:"))
    }

    @Test func notebookCellsFollowTheMarkers() {
        let src = "x = 1\n# %% first\ny = 2\n\n# %%\nz = 3\n"
        let cells = Notebook.cells(src)
        #expect(cells.map(\.index) == [0, 1, 2])
        #expect(cells.map(\.text) == ["x = 1", "# %% first\ny = 2\n", "# %%\nz = 3"])
        #expect(cells.map(\.body) == ["x = 1", "y = 2\n", "z = 3"])
        #expect(Notebook.cells("# %% a\nq = 1\n").map(\.index) == [1])
        #expect(Notebook.cells("").isEmpty)
    }

    @Test func replayCheckMatchesMetricsByOrderAndArtifactsByPath() throws {
        let s = try Scratch()
        let store = try HistoryStore(path: s.db)
        let a = try record(store, "log(loss: 1, step: 0)\nlog(loss: 2, step: 1)\nlog(y: 0.5)\n")
        let same = try record(store, "log(loss: 1, step: 0)\nlog(loss: 2, step: 1)\nlog(y: 0.5)\n")
        let check = ReplayCheck(original: a, replay: same)
        #expect(check.reproduced && check.summary == "reproduced: 3/3 metrics, 0/0 artifacts")
        let other = try record(store, "log(loss: 1, step: 0)\nlog(loss: 2.000001, step: 1)\n")
        let bad = ReplayCheck(original: a, replay: other)
        #expect(!bad.reproduced)
        #expect(bad.summary == "reproduced: 1/3 metrics, 0/0 artifacts")
        #expect(bad.mismatches == ["metric loss (step 1): 2 vs 2.000001", "metric y: 0.5 vs missing"])
        #expect(ReplayCheck(original: a, replay: other, tolerance: 1e-5).mismatches == ["metric y: 0.5 vs missing"])
    }
}
