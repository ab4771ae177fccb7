import Foundation

/// Tick positions and labels: "nice" 1-2-5 steps on linear axes, decades (and 2, 5 between them on
/// short ranges) on log axes.
public enum Ticks {
    /// The smallest step of the form {1, 2, 5} × 10^k that gives at most `maxCount` intervals.
    public static func niceStep(_ span: Double, maxCount: Int) -> Double {
        guard span > 0, span.isFinite else { return 1 }
        let raw = span / Double(max(1, maxCount))
        let mag = pow(10, (log10(raw)).rounded(.down))
        for m in [1.0, 2, 5, 10] where m * mag >= raw * (1 - 1e-9) { return m * mag }
        return 10 * mag
    }

    /// Multiples of `step` inside [lo, hi].
    public static func linear(_ lo: Double, _ hi: Double, step: Double) -> [Double] {
        guard step > 0, lo <= hi else { return [] }
        let first = (lo / step - 1e-9).rounded(.up), last = (hi / step + 1e-9).rounded(.down)
        guard last >= first, last - first < 1000 else { return [] }
        return stride(from: first, through: last, by: 1).map { k in
            let v = k * step
            return abs(v) < step * 1e-9 ? 0 : v
        }
    }

    /// Decimal places that show `step` exactly.
    static func decimals(_ step: Double) -> Int {
        var d = 0
        var s = step
        while d < 12 && abs(s - s.rounded()) > 1e-9 * max(1, abs(s)) {
            s *= 10
            d += 1
        }
        return d
    }

    /// Labels for linear ticks: fixed decimals, or a mantissa × 10^k when the numbers are large or tiny.
    public static func labels(_ ticks: [Double], step: Double) -> [String] {
        let big = ticks.map(abs).max() ?? 0
        if big >= 1e5 || (big > 0 && big < 1e-3) {
            let e = Int(log10(big).rounded(.down))
            let scale = pow(10, Double(e))
            let d = decimals(step / scale)
            return ticks.map { t in t == 0 ? "0" : String(format: "%.\(d)f", t / scale) + "×10" + superscript(e) }
        }
        let d = decimals(step)
        return ticks.map { String(format: "%.\(d)f", $0 == 0 ? 0 : $0).replacingOccurrences(of: "-", with: "−") }
    }

    /// One value as a tick label: whole numbers plainly ("1024"), others in the shortest form
    /// that round-trips through Float ("0.25", "1e-05").
    public static func label(_ v: Double) -> String {
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)).replacingOccurrences(of: "-", with: "−") }
        return "\(Float(v))".replacingOccurrences(of: "-", with: "−")
    }

    static func superscript(_ n: Int) -> String {
        let digits: [Character] = ["⁰", "¹", "²", "³", "⁴", "⁵", "⁶", "⁷", "⁸", "⁹"]
        return (n < 0 ? "⁻" : "") + String(abs(n)).map { digits[Int(String($0)) ?? 0] }
    }

    /// Major ticks (with labels) and minor ticks for a log axis over [lo, hi] (both > 0).
    public static func log(_ lo: Double, _ hi: Double, maxCount: Int) -> (major: [Double], labels: [String], minor: [Double]) {
        guard lo > 0, hi > lo else { return ([], [], []) }
        let e0 = Int(log10(lo).rounded(.down)), e1 = Int(log10(hi).rounded(.up))
        var stepE = 1
        while (e1 - e0) / stepE > maxCount { stepE += 1 }
        var major: [Double] = [], labels: [String] = [], minor: [Double] = []
        for e in stride(from: e0, through: e1, by: 1) {
            let v = pow(10, Double(e))
            if v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9) && (e - e0) % stepE == 0 {
                major.append(v)
                labels.append("10" + superscript(e))
            }
            for m in 2...9 {
                let w = Double(m) * v
                if w >= lo && w <= hi { minor.append(w) }
            }
        }
        if major.count < 2 {
            // Less than a decade: label 1, 2 and 5 multiples instead.
            major = []; labels = []
            for e in e0...e1 {
                for m in [1.0, 2, 5] {
                    let v = m * pow(10, Double(e))
                    if v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9) {
                        major.append(v)
                        labels.append(linearLabel(v))
                    }
                }
            }
            minor = minor.filter { m in !major.contains { abs($0 - m) < 1e-12 * m } }
        }
        return (major, labels, minor)
    }

    static func linearLabel(_ v: Double) -> String {
        if v >= 1e5 || v < 1e-3 {
            let e = Int(log10(v).rounded(.down))
            let m = v / pow(10, Double(e))
            return (abs(m - 1) < 1e-9 ? "" : String(format: "%g×", m)) + "10" + superscript(e)
        }
        return String(format: "%g", v)
    }
}
