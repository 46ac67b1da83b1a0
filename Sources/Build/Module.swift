/// Builds in microVMs: stage planning, context transfer, step cache, RUN/COPY through the guest.
