/// The firebuild release this binary is.
public enum FirebuildVersion {
    public static let current = "0.1.0"
}
