package gateway

// validateReleaseLimits checks the limits on what release decompresses and holds.
func validateReleaseLimits(l Limits, add addFunc) {
	if l.MaxDecompressedBytes < 1 {
		add("limits.max_decompressed_bytes", "must be at least 1")
	}
	if l.ReleaseWait < 0 {
		add("limits.release_wait", "must not be negative")
	}
}
