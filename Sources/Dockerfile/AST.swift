import FirebuildCore

/// One heredoc attached to an instruction (`RUN <<EOF`, `COPY <<-"EOF" /dst`).
public struct Heredoc: Equatable, Sendable {
    /// The delimiter word with quotes removed (also the file name for COPY/ADD).
    public var name: String
    /// The file descriptor prefix (`3<<EOF`), 0 when absent.
    public var fileDescriptor: Int
    /// False when the delimiter was quoted: the body is taken literally.
    public var expand: Bool
    /// `<<-`: leading tabs are stripped from the body (and the terminator may be tab-indented).
    public var chomp: Bool
    /// The body, every line with its newline, as written (chomping is applied by consumers).
    public var content: String

    public init(name: String, fileDescriptor: Int = 0, expand: Bool, chomp: Bool, content: String = "") {
        self.name = name
        self.fileDescriptor = fileDescriptor
        self.expand = expand
        self.chomp = chomp
        self.content = content
    }

    /// The body after `<<-` chomping (leading tabs removed from every line), as BuildKit applies it.
    public var chompedContent: String {
        guard chomp else { return content }
        var out = ""
        out.reserveCapacity(content.utf8.count)
        var atLineStart = true
        for scalar in content.unicodeScalars {
            if atLineStart && scalar == "\t" { continue }
            atLineStart = scalar == "\n"
            out.unicodeScalars.append(scalar)
        }
        return out
    }
}

/// One instruction of the parse tree, the equivalent of BuildKit's `parser.Node` for a child of the root.
public struct Node: Equatable, Sendable {
    /// The instruction keyword as written (`run`, `RUN`, `Run`…).
    public var value: String
    /// Builder flags (`--from=x`), verbatim, in order.
    public var flags: [String]
    /// Arguments after flags, as the line parser produced them (see `Dump`).
    public var args: [String]
    /// The trigger of an `ONBUILD` (at most one element).
    public var children: [Node]
    /// True when the arguments were a JSON array (exec form).
    public var isJSON: Bool
    /// The logical line (continuations joined), as BuildKit keeps it in `Original`.
    public var original: String
    public var startLine: Int
    public var endLine: Int
    public var heredocs: [Heredoc]
    /// Comment lines directly above the instruction (without `#`).
    public var comments: [String]

    public init(value: String, flags: [String] = [], args: [String] = [], children: [Node] = [], isJSON: Bool = false,
                original: String = "", startLine: Int = 0, endLine: Int = 0, heredocs: [Heredoc] = [],
                comments: [String] = []) {
        self.value = value
        self.flags = flags
        self.args = args
        self.children = children
        self.isJSON = isJSON
        self.original = original
        self.startLine = startLine
        self.endLine = endLine
        self.heredocs = heredocs
        self.comments = comments
    }

    /// The keyword lower-cased: `run`, `copy`…
    public var keyword: String { value.lowercased() }

    /// BuildKit's `Node.Dump()` for this instruction.
    public func dump() -> String {
        var s = value.lowercased()
        if !flags.isEmpty { s += " " + GoQuote.quoteList(flags) }
        if let child = children.first {
            s += " (" + child.dump() + ")"
        } else {
            for a in args { s += " " + GoQuote.quote(a) }
        }
        return s
    }

    /// The arguments as BuildKit's instruction parser sees them (ONBUILD: trigger keyword then its args).
    var flatArgs: [String] {
        if let child = children.first { return [child.value] + child.flatArgs }
        return args
    }
}

/// A parser directive (`# syntax=…`, `# escape=…`, `# check=…`).
public struct Directive: Equatable, Sendable {
    public var name: String
    public var value: String
    public var line: Int
}

/// A warning from parsing (empty continuation lines).
public struct ParseWarning: Equatable, Sendable {
    public var rule: String
    public var message: String
    public var line: Int
}

/// The result of `Dockerfile.parse`: the instructions, directives and escape token.
public struct ParsedDockerfile: Sendable {
    public var fileName: String
    public var instructions: [Node]
    public var directives: [Directive]
    public var escapeToken: Character
    public var warnings: [ParseWarning]

    /// BuildKit's `AST.Dump()`: one `(instruction args…)` per line.
    public func dump() -> String {
        instructions.map { "(" + $0.dump() + ")" }.joined(separator: "\n")
    }

    public func directive(_ name: String) -> String? {
        directives.first { $0.name == name }?.value
    }

    func error(_ message: String, line: Int) -> FirebuildError {
        FirebuildError(.parse, message, location: "\(fileName):\(line)")
    }
}
