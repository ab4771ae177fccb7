import Foundation
import History

/// Compares a replay with the run it replays: every metric point (matched by name and order of
/// logging) and every artifact (matched by path) must agree.
public struct ReplayCheck {
    public var metricsMatched = 0
    public var metricsTotal = 0
    public var artifactsMatched = 0
    public var artifactsTotal = 0
    public var mismatches: [String] = []

    public var reproduced: Bool { mismatches.isEmpty }

    /// `tolerance` is relative: |a − b| ≤ tolerance · max(|a|, |b|). Zero demands identical values.
    public init(original: RunRecord, replay: RunRecord, tolerance: Double = 0) {
        if original.status != replay.status {
            mismatches.append(
                "status: \(original.status.rawValue) vs \(replay.status.rawValue)"
                    + (replay.error.map { "\n    \($0.split(separator: "\n").first ?? "")" } ?? ""))
        }
        // The k-th point logged under a name is compared with the k-th of the replay.
        func keyed(_ ms: [MetricRecord]) -> [(key: String, metric: MetricRecord)] {
            var counts: [String: Int] = [:]
            return ms.map { m in
                let k = counts[m.name, default: 0]
                counts[m.name] = k + 1
                return ("\(m.name)#\(k)", m)
            }
        }
        let ka = keyed(original.metrics), kb = keyed(replay.metrics)
        let a = Dictionary(ka.map { ($0.key, $0.metric) }, uniquingKeysWith: { x, _ in x })
        let b = Dictionary(kb.map { ($0.key, $0.metric) }, uniquingKeysWith: { x, _ in x })
        let order = ka.map(\.key) + kb.map(\.key).filter { a[$0] == nil }
        for key in order {
            metricsTotal += 1
            let x = a[key], y = b[key]
            let label = (x ?? y).map { m in m.step.map { "\(m.name) (step \($0))" } ?? m.name } ?? key
            guard let x, let y else {
                mismatches.append(
                    "metric \(label): \(x.map { RunTable.number($0.value, digits: 17) } ?? "missing") vs " +
                    "\(y.map { RunTable.number($0.value, digits: 17) } ?? "missing")"
                )
                continue
            }
            if ReplayCheck.agree(x.value, y.value, tolerance) {
                metricsMatched += 1
            } else {
                mismatches.append("metric \(label): \(RunTable.number(x.value, digits: 17)) vs \(RunTable.number(y.value, digits: 17))")
            }
        }
        var paths: [String] = []
        for p in original.artifacts.map(\.path) + replay.artifacts.map(\.path) where !paths.contains(p) { paths.append(p) }
        for p in paths {
            artifactsTotal += 1
            let x = original.artifacts.last { $0.path == p }, y = replay.artifacts.last { $0.path == p }
            if let x, let y, x.sha256 == y.sha256 {
                artifactsMatched += 1
            } else {
                mismatches.append(
                    "artifact \(p): sha256 \(x.map { String($0.sha256.prefix(16)) } ?? "missing") vs " +
                    "\(y.map { String($0.sha256.prefix(16)) } ?? "missing")"
                )
            }
        }
    }

    static func agree(_ a: Double, _ b: Double, _ tolerance: Double) -> Bool {
        if a.isNaN || b.isNaN { return a.isNaN && b.isNaN }
        if a == b { return true }
        return abs(a - b) <= tolerance * max(abs(a), abs(b))
    }

    public var summary: String {
        "reproduced: \(metricsMatched)/\(metricsTotal) metric\(metricsTotal == 1 ? "" : "s"), \(artifactsMatched)/\(artifactsTotal) " +
        "artifact\(artifactsTotal == 1 ? "" : "s")"
    }
}
