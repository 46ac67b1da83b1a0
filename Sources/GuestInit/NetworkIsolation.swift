// `RUN --network=none`: the process starts in a network namespace of its own, with only `lo`.
// The init is single-threaded, so it can step into a fresh namespace, bring `lo` up there, fork
// the process (born inside it), and step back before anything else runs; the namespace lives as
// long as the process and its children do.
#if canImport(Glibc)
import Glibc
#endif
import CSyscalls
import Guest

enum NetworkIsolation {
    static func spawn<T>(isolated: Bool, _ body: () throws -> T) throws -> T {
        guard isolated else { return try body() }
        let saved = fb_netns_enter_new()
        guard saved >= 0 else { throw GuestError.posix("unshare(CLONE_NEWNET) for --network=none") }
        defer {
            // Failing to go back would leave the init itself without network: that must not pass silently.
            if fb_netns_restore(saved) != 0 { log("cannot return to the guest's network namespace: \(String(cString: strerror(errno)))") }
        }
        guard fb_if_up("lo") == 0 else { throw GuestError.posix("bring up", "lo of the --network=none namespace") }
        return try body()
    }
}
