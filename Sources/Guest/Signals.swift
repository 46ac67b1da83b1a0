// Signal names as Docker accepts them in STOPSIGNAL and `kill --signal`: "SIGTERM", "TERM", "15",
// "SIGRTMIN+3". Numbers are Linux x86-64/arm64 (the only guest architectures).

public enum Signals {
    static let table: [(String, Int32)] = [
        ("HUP", 1), ("INT", 2), ("QUIT", 3), ("ILL", 4), ("TRAP", 5), ("ABRT", 6), ("IOT", 6), ("BUS", 7),
        ("FPE", 8), ("KILL", 9), ("USR1", 10), ("SEGV", 11), ("USR2", 12), ("PIPE", 13), ("ALRM", 14),
        ("TERM", 15), ("STKFLT", 16), ("CHLD", 17), ("CONT", 18), ("STOP", 19), ("TSTP", 20), ("TTIN", 21),
        ("TTOU", 22), ("URG", 23), ("XCPU", 24), ("XFSZ", 25), ("VTALRM", 26), ("PROF", 27), ("WINCH", 28),
        ("IO", 29), ("POLL", 29), ("PWR", 30), ("SYS", 31),
    ]
    static let rtmin: Int32 = 34, rtmax: Int32 = 64

    /// Parses a signal name or number; nil when it is not a valid signal.
    public static func parse(_ text: String) -> Int32? {
        var s = text.uppercased()
        if let n = Int32(s) { return n >= 1 && n <= rtmax ? n : nil }
        if s.hasPrefix("SIG") { s.removeFirst(3) }
        if let hit = table.first(where: { $0.0 == s }) { return hit.1 }
        for (base, n0, sign) in [("RTMIN", rtmin, Int32(1)), ("RTMAX", rtmax, Int32(-1))] where s.hasPrefix(base) {
            let rest = s.dropFirst(base.count)
            if rest.isEmpty { return n0 }
            let op = rest.first, num = Int32(rest.dropFirst())
            guard let num, (op == "+" && sign == 1) || (op == "-" && sign == -1) else { return nil }
            let n = n0 + sign * num
            return n >= rtmin && n <= rtmax ? n : nil
        }
        return nil
    }

    public static func name(_ n: Int32) -> String {
        if let hit = table.first(where: { $0.1 == n }) { return "SIG" + hit.0 }
        if n >= rtmin && n <= rtmax { return n == rtmin ? "SIGRTMIN" : "SIGRTMIN+\(n - rtmin)" }
        return "signal \(n)"
    }
}
