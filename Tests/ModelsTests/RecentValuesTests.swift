import Testing

@testable import Models

/// The evaluation caches' bookkeeping: least recently used first out once the cost is over the limit.
@Suite struct RecentValuesTests {
    @Test func dropsTheLeastRecentlyUsedBeyondTheLimit() {
        var c = RecentValues<String, Int>(limit: 10)
        c.set("a", 1, cost: 4)
        c.set("b", 2, cost: 4)
        #expect(c.get("a") == 1)  // a is now the most recent
        c.set("c", 3, cost: 4)  // 12 > 10: b goes
        #expect(c.get("b") == nil && c.get("a") == 1 && c.get("c") == 3)
        c.set("c", 30, cost: 2)  // replacing a value counts its new cost only
        c.set("d", 4, cost: 4)
        #expect(c.get("a") == 1 && c.get("c") == 30 && c.get("d") == 4)
        c.set("e", 5, cost: 50)  // over the limit alone: kept, everything older goes
        #expect(c.get("e") == 5 && c.get("a") == nil && c.get("d") == nil)
    }
}
