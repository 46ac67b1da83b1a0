/// The host<->guest protocol: message types and framing, shared by firebuild and firebuild-init. No Foundation.
