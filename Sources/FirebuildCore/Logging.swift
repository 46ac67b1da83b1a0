import Foundation
import Logging

/// How logs are written: readable text (optionally coloured) or one JSON object per line.
public struct LogOptions: Sendable, Equatable {
    public var level: Logger.Level
    public var json: Bool
    public var color: Bool

    public init(level: Logger.Level = .info, json: Bool = false, color: Bool = false) {
        self.level = level
        self.json = json
        self.color = color
    }

    /// Parses a level name as the original accepted it (`trace`, `debug`, `info`, `warn`, `error`).
    public static func level(named name: String) throws -> Logger.Level {
        switch name.lowercased() {
        case "trace": return .trace
        case "debug": return .debug
        case "info": return .info
        case "notice": return .notice
        case "warn", "warning": return .warning
        case "error": return .error
        case "critical", "fatal": return .critical
        default:
            throw FirebuildError(.invalidArgument, "unknown log level \"\(name)\": use trace, debug, info, warn or error")
        }
    }
}

public enum FirebuildLogging {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var bootstrapped = false
    nonisolated(unsafe) public private(set) static var options = LogOptions()
    nonisolated(unsafe) static var sink: LogSink = StandardErrorSink()
    nonisolated(unsafe) private static var provider: Logger.MetadataProvider?

    /// Metadata added to every log line from the current context; Telemetry installs one that
    /// adds `trace-id` (and `span-id`) while a span is active, so logs and traces join up.
    public static var metadataProvider: Logger.MetadataProvider? {
        get { lock.lock(); defer { lock.unlock() }; return provider }
        set { lock.lock(); provider = newValue; lock.unlock() }
    }

    /// Installs firebuild's handlers process-wide. swift-log allows one bootstrap per process;
    /// later calls only change the options, which the handlers read on every message.
    public static func bootstrap(_ options: LogOptions) {
        lock.lock()
        defer { lock.unlock() }
        self.options = options
        if !bootstrapped {
            bootstrapped = true
            LoggingSystem.bootstrap { label in FirebuildLogHandler(label: label) }
        }
    }

    /// Redirects log output (tests capture it this way).
    public static func setSink(_ newSink: LogSink) {
        lock.lock()
        defer { lock.unlock() }
        sink = newSink
    }

    /// The sink logs go to now (the progress renderer wraps it to keep its lines below the logs).
    public static var currentSink: LogSink {
        lock.lock()
        defer { lock.unlock() }
        return sink
    }

    static func write(_ line: String) {
        lock.lock()
        let s = sink
        lock.unlock()
        s.write(line)
    }
}

public protocol LogSink: Sendable {
    func write(_ line: String)
}

public struct StandardErrorSink: LogSink {
    public init() {}
    public func write(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}

/// A logger for one module; the label becomes `@module`.
public func makeLogger(_ module: String) -> Logger {
    Logger(label: module)
}

struct FirebuildLogHandler: LogHandler {
    let label: String
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    // Each handler instance can be narrowed, but by default it follows the global option.
    private var overrideLevel: Logger.Level?
    var logLevel: Logger.Level {
        get { overrideLevel ?? FirebuildLogging.options.level }
        set { overrideLevel = newValue }
    }

    init(label: String) {
        self.label = label
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let provided = (metadataProvider ?? FirebuildLogging.metadataProvider)?.get() ?? [:]
        let extra = event.metadata ?? [:]
        var fields = metadata
        if !provided.isEmpty || !extra.isEmpty {
            // Sized once: merging into the handler's small dictionary would resize it per line.
            fields = Logger.Metadata(minimumCapacity: metadata.count + provided.count + extra.count)
            fields.merge(metadata) { $1 }
            fields.merge(provided) { $1 }
            fields.merge(extra) { $1 }
        }
        let options = FirebuildLogging.options
        let line = options.json
            ? LogFormatter.json(level: event.level, message: event.message.description, module: label, fields: fields, date: Date())
            : LogFormatter.text(level: event.level, message: event.message.description, module: label, fields: fields,
                                date: Date(), color: options.color)
        FirebuildLogging.write(line)
    }
}

/// Pure formatting, separate from output so it can be tested exactly.
public enum LogFormatter {
    public static func levelName(_ level: Logger.Level) -> String {
        switch level {
        case .trace: "trace"
        case .debug: "debug"
        case .info: "info"
        case .notice: "notice"
        case .warning: "warn"
        case .error: "error"
        case .critical: "critical"
        }
    }

    /// RFC 3339 UTC with milliseconds, e.g. 1970-01-01T00:00:00.000Z. Formatted by hand: an
    /// ISO8601DateFormatter per line cost more than the rest of the line.
    static func timestamp(_ date: Date) -> String {
        let t = date.timeIntervalSince1970
        var seconds = time_t(t.rounded(.down))
        let millis = min(999, max(0, Int(((t - Double(seconds)) * 1000).rounded(.down))))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ v: Int, _ width: Int) -> String {
            let s = String(v)
            return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
        }
        return "\(pad(Int(parts.tm_year) + 1900, 4))-\(pad(Int(parts.tm_mon) + 1, 2))-\(pad(Int(parts.tm_mday), 2))T"
            + "\(pad(Int(parts.tm_hour), 2)):\(pad(Int(parts.tm_min), 2)):\(pad(Int(parts.tm_sec), 2)).\(pad(millis, 3))Z"
    }

    /// One JSON object, keys sorted, written by hand: JSONSerialization cost ~10 µs per field,
    /// which made every extra field (the trace ids) a visible cost per log line.
    public static func json(level: Logger.Level, message: String, module: String, fields: Logger.Metadata, date: Date) -> String {
        // The four fixed keys are merged into the sorted field keys as they are written, not
        // inserted into a copy of the dictionary (a copy and a resize per line).
        let fixed: [(String, String)] = [("@level", levelName(level)), ("@message", message), ("@module", module),
                                         ("@timestamp", timestamp(date))]
        let keys = fields.keys.filter { key in !key.hasPrefix("@") || !fixed.contains { $0.0 == key } }.sorted()
        var out = "{"
        out.reserveCapacity(128 + message.utf8.count + 48 * keys.count)
        var f = 0, k = 0
        while f < fixed.count || k < keys.count {
            if f + k > 0 { out += "," }
            if k == keys.count || (f < fixed.count && fixed[f].0 < keys[k]) {
                writeJSONString(fixed[f].0, to: &out)
                out += ":"
                writeJSONString(fixed[f].1, to: &out)
                f += 1
            } else {
                writeJSONString(keys[k], to: &out)
                out += ":"
                writeJSON(fields[keys[k]]!, to: &out)
                k += 1
            }
        }
        out += "}"
        return out
    }

    private static func writeJSON(_ v: Logger.MetadataValue, to out: inout String) {
        switch v {
        case .string(let s): writeJSONString(s, to: &out)
        case .stringConvertible(let c): writeJSONString(c.description, to: &out)
        case .array(let a):
            out += "["
            for (i, item) in a.enumerated() {
                if i > 0 { out += "," }
                writeJSON(item, to: &out)
            }
            out += "]"
        case .dictionary(let d):
            out += "{"
            for (i, (key, value)) in d.sorted(by: { $0.key < $1.key }).enumerated() {
                if i > 0 { out += "," }
                writeJSONString(key, to: &out)
                out += ":"
                writeJSON(value, to: &out)
            }
            out += "}"
        }
    }

    /// RFC 8259 string escaping: quote, backslash and control characters; "/" and non-ASCII stay.
    /// Works on UTF-8 bytes; most strings need no escaping and are appended whole.
    static func writeJSONString(_ text: String, to out: inout String) {
        var text = text
        let plain = text.withUTF8 { !$0.contains { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C } }
        out += "\""
        if plain {
            out += text
        } else {
            var bytes: [UInt8] = []
            bytes.reserveCapacity(text.utf8.count + 16)
            let hex = Array("0123456789abcdef".utf8)
            for b in text.utf8 {
                switch b {
                case 0x22: bytes += [0x5C, 0x22]              // \"
                case 0x5C: bytes += [0x5C, 0x5C]              // \\
                case 0x0A: bytes += [0x5C, 0x6E]              // \n
                case 0x0D: bytes += [0x5C, 0x72]              // \r
                case 0x09: bytes += [0x5C, 0x74]              // \t
                case 0..<0x20: bytes += [0x5C, 0x75, 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 0xF)]]  // \u00XX
                default: bytes.append(b)
                }
            }
            out += String(decoding: bytes, as: UTF8.self)
        }
        out += "\""
    }

    public static func text(level: Logger.Level, message: String, module: String, fields: Logger.Metadata, date: Date,
                            color: Bool) -> String {
        var name = levelName(level).uppercased()
        if color {
            let code = switch level {
            case .trace, .debug: "90"
            case .info, .notice: "32"
            case .warning: "33"
            case .error, .critical: "31"
            }
            name = "\u{1B}[\(code)m\(name)\u{1B}[0m"
        }
        var line = "\(timestamp(date)) [\(name)] \(module): \(message)"
        for key in fields.keys.sorted() {
            line += " \(key)=\(textValue(fields[key]!))"
        }
        return line
    }

    private static func textValue(_ v: Logger.MetadataValue) -> String {
        let s: String
        switch v {
        case .string(let str): s = str
        case .stringConvertible(let c): s = c.description
        case .array(let a): s = "[" + a.map(textValue).joined(separator: ",") + "]"
        case .dictionary(let d): s = "{" + d.keys.sorted().map { "\($0)=\(textValue(d[$0]!))" }.joined(separator: ",") + "}"
        }
        return s.contains(" ") || s.isEmpty ? "\"\(s)\"" : s
    }
}
