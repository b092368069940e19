package policy

// loadFiles reads the revision's files from the configured source: a Files function
// (a verified bundle) or the directory / file system.
func (e *Engine) loadFiles() (*Files, error) {
	if e.opts.Files != nil {
		return e.opts.Files()
	}
	return ReadFiles(e.fsys())
}
