package loop

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// sendfileRoots is the set of directories X-Sendfile files may come from, cleaned and with symlinks resolved at start-up.
type sendfileRoots []string

// newSendfileRoots checks each root: absolute, exists, is a directory; resolves it with filepath.EvalSymlinks; error messages say which root and why.
func newSendfileRoots(dirs []string) (sendfileRoots, error) {
	roots := make(sendfileRoots, 0, len(dirs))
	for _, d := range dirs {
		if !filepath.IsAbs(d) {
			return nil, fmt.Errorf("sendfile root %q: not an absolute path", d)
		}
		fi, err := os.Stat(d)
		if err != nil {
			return nil, fmt.Errorf("sendfile root %q: %w", d, err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("sendfile root %q: not a directory", d)
		}
		resolved, err := filepath.EvalSymlinks(d)
		if err != nil {
			return nil, fmt.Errorf("sendfile root %q: %w", d, err)
		}
		roots = append(roots, filepath.Clean(resolved))
	}
	return roots, nil
}

// open opens the file an X-Sendfile header names, for reading. It returns the open file, its FileInfo, and on failure an HTTP status and a reason for the log:
//   - not absolute, contains NUL, or any ".." path element (checked on the raw value, before cleaning) -> 403
//   - after filepath.Clean and EvalSymlinks, not inside any root (prefix check on whole path elements: /srv/files2 is not under /srv/files) -> 403 (this catches symlink escapes)
//   - does not exist -> 404; permission denied -> 403; a directory or anything not a regular file -> 403
//
// A missing file outside every root is 403, not 404, so the answer does not reveal what exists elsewhere.
// Status is 0 on success.
func (r sendfileRoots) open(name string) (f *os.File, fi os.FileInfo, status int, reason string) {
	switch {
	case !filepath.IsAbs(name):
		return nil, nil, 403, "not an absolute path"
	case strings.IndexByte(name, 0) >= 0:
		return nil, nil, 403, "path contains NUL"
	case hasDotDotElement(name):
		return nil, nil, 403, `path has a ".." element`
	}
	clean := filepath.Clean(name)
	resolved, err := filepath.EvalSymlinks(clean)
	if err != nil {
		if status, reason = sendfileOpenError(err); status == 404 && !r.wouldContain(clean) {
			return nil, nil, 403, "outside the sendfile roots"
		}
		return nil, nil, status, reason
	}
	if !r.contain(resolved) {
		return nil, nil, 403, "outside the sendfile roots"
	}
	// O_NONBLOCK: opening a FIFO would otherwise block the loop until a writer came; it is
	// rejected below as not regular, and regular files ignore the flag. O_NOFOLLOW: the last
	// element was just resolved, so a symlink there now is a race and is refused (ELOOP).
	// os.OpenFile adds O_CLOEXEC itself.
	f, err = os.OpenFile(resolved, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if err != nil {
		status, reason = sendfileOpenError(err)
		return nil, nil, status, reason
	}
	fi, err = f.Stat()
	switch {
	case err != nil:
		status, reason = 500, "stat: "+err.Error()
	case fi.IsDir():
		status, reason = 403, "a directory"
	case !fi.Mode().IsRegular():
		status, reason = 403, "not a regular file"
	default:
		return f, fi, 0, ""
	}
	f.Close() //nolint:errcheck // read-only, nothing to flush
	return nil, nil, status, reason
}

// hasDotDotElement reports whether any '/'-separated element of p is "..".
func hasDotDotElement(p string) bool {
	for p != "" {
		elem, rest, _ := strings.Cut(p, "/")
		if elem == ".." {
			return true
		}
		p = rest
	}
	return false
}

// contain reports whether the resolved path p is a root or lies below one, comparing whole path elements.
func (r sendfileRoots) contain(p string) bool {
	for _, root := range r {
		if !strings.HasPrefix(p, root) {
			continue
		}
		if len(p) == len(root) || root == "/" || p[len(root)] == '/' {
			return true
		}
	}
	return false
}

// wouldContain reports whether a path that does not (fully) exist would land inside a root: its deepest
// existing ancestor resolves inside one. The missing tail holds no symlinks and no "..", so it cannot leave.
func (r sendfileRoots) wouldContain(clean string) bool {
	for dir := filepath.Dir(clean); ; dir = filepath.Dir(dir) {
		if resolved, err := filepath.EvalSymlinks(dir); err == nil {
			return r.contain(resolved)
		}
		if dir == "/" || dir == "." {
			return false
		}
	}
}

// sendfileOpenError maps an error from resolving or opening the file to a status and a reason, as nginx does.
func sendfileOpenError(err error) (int, string) {
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR), errors.Is(err, syscall.ENAMETOOLONG):
		return 404, "no such file"
	case errors.Is(err, fs.ErrPermission):
		return 403, "permission denied"
	case errors.Is(err, syscall.ELOOP):
		return 403, "too many symlinks, or a symlink appeared after resolution"
	}
	return 500, err.Error()
}
