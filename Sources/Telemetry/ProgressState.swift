import Foundation

/// What the progress display knows, updated by reports and rendered by `ProgressView.lines`.
/// Pure data: tests drive it with explicit times.
public struct ProgressState: Sendable, Equatable {
    public struct Layer: Sendable, Equatable {
        public var id: String
        public var done: Int64
        public var total: Int64?
        /// Bytes per second, smoothed (EWMA) so the display does not jitter.
        public var rate: Double
        var lastDone: Int64
        var lastTime: TimeInterval
        public var isComplete: Bool { total.map { done >= $0 } ?? false }
    }

    public var layers: [Layer] = []
    public var step: String?
    public var stepStarted: TimeInterval = 0
    public var wait: String?
    public var waitStarted: TimeInterval = 0

    public init() {}

    public var isEmpty: Bool { layers.isEmpty && step == nil && wait == nil }

    public mutating func layer(id: String, done: Int64, total: Int64?, now: TimeInterval) {
        guard let i = layers.firstIndex(where: { $0.id == id }) else {
            layers.append(Layer(id: id, done: done, total: total, rate: 0, lastDone: done, lastTime: now))
            return
        }
        var l = layers[i]
        l.done = done
        l.total = total ?? l.total
        let dt = now - l.lastTime
        // Sample the rate at most every 200 ms; shorter intervals are mostly scheduling noise.
        if dt >= 0.2 {
            let instant = Double(max(0, done - l.lastDone)) / dt
            l.rate = l.rate == 0 ? instant : 0.7 * l.rate + 0.3 * instant
            l.lastDone = done
            l.lastTime = now
        }
        layers[i] = l
    }

    public mutating func step(_ label: String, now: TimeInterval) {
        step = label
        stepStarted = now
    }

    public mutating func wait(_ label: String, now: TimeInterval) {
        wait = label
        waitStarted = now
    }

    public mutating func clear() { self = ProgressState() }
}

/// Turns a state into the lines to draw. Lines never exceed `width - 1` columns so the
/// terminal never wraps them (wrapping would break moving the cursor back up to redraw).
public enum ProgressView {
    static let spinner = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"]
    /// At most this many layers are listed; the rest are summarised in one line.
    static let maxLayerLines = 6

    public static func lines(_ s: ProgressState, now: TimeInterval, width: Int, frame: Int) -> [String] {
        var out: [String] = []
        let spin = spinner[((frame % spinner.count) + spinner.count) % spinner.count]
        if !s.layers.isEmpty {
            let complete = s.layers.filter(\.isComplete)
            let active = s.layers.filter { !$0.isComplete }
            let doneBytes = s.layers.reduce(Int64(0)) { $0 + $1.done }
            let rate = active.reduce(0.0) { $0 + $1.rate }
            var head = "pulling: \(complete.count)/\(s.layers.count) layers, \(bytes(doneBytes))"
            if rate > 0 { head += ", \(bytes(Int64(rate)))/s" }
            out.append(head)
            for l in active.prefix(maxLayerLines) { out.append(layerLine(l)) }
            if active.count > maxLayerLines { out.append("  … \(active.count - maxLayerLines) more") }
        }
        if let step = s.step {
            out.append("\(spin) \(step) (\(duration(now - s.stepStarted)))")
        }
        if let wait = s.wait {
            out.append("\(spin) \(wait) \(duration(now - s.waitStarted))")
        }
        let limit = max(10, width - 1)
        return out.map { truncate($0, to: limit) }
    }

    static func layerLine(_ l: ProgressState.Layer) -> String {
        let id = shortID(l.id)
        var line = "  \(id)  \(bytes(l.done))"
        if let total = l.total, total > 0 {
            let pct = min(100, Int(Double(l.done) * 100 / Double(total)))
            line += " / \(bytes(total))  \(bar(pct))\(pad(pct, 3))%"
        }
        if l.rate > 0 { line += "  \(bytes(Int64(l.rate)))/s" }
        return line
    }

    /// `sha256:0123456789abcdef…` → `0123456789ab` (what `docker pull` shows).
    static func shortID(_ id: String) -> String {
        let hex = id.split(separator: ":").last.map(String.init) ?? id
        return String(hex.prefix(12))
    }

    static func bar(_ pct: Int) -> String {
        let filled = pct / 10
        return "[" + String(repeating: "=", count: filled) + String(repeating: " ", count: 10 - filled) + "] "
    }

    static func pad(_ n: Int, _ width: Int) -> String {
        let s = String(n)
        return String(repeating: " ", count: max(0, width - s.count)) + s
    }

    public static func bytes(_ n: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var v = Double(n), i = 0
        while v >= 1024 && i < units.count - 1 { v /= 1024; i += 1 }
        return i == 0 ? "\(n) B" : String(format: "%.1f", v) + " " + units[i]
    }

    public static func duration(_ t: TimeInterval) -> String {
        let s = max(0, Int(t))
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m\(String(format: "%02d", s % 60))s" }
        return "\(s / 3600)h\(String(format: "%02d", (s % 3600) / 60))m"
    }

    /// Cuts by characters (Swift `Character`, so a spinner glyph counts once).
    static func truncate(_ line: String, to width: Int) -> String {
        line.count <= width ? line : String(line.prefix(width - 1)) + "…"
    }
}
