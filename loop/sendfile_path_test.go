package loop

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// sendfileTree lays out, under a fresh temporary directory:
//
//	files/a.txt            the root and a file in it
//	files/sub/b.txt
//	files/dir/             a directory
//	files/secret.txt       mode 000
//	files/out -> ../outside.txt, files/in -> sub/b.txt, files/subdir -> sub, files/away -> ../files2
//	files2/c.txt           a sibling whose name has the root as a prefix
//	outside.txt
func sendfileTree(t *testing.T) (base string, roots sendfileRoots) {
	t.Helper()
	base, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	mk := func(rel, body string) {
		t.Helper()
		p := filepath.Join(base, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := func(target, rel string) {
		t.Helper()
		if err := os.Symlink(target, filepath.Join(base, rel)); err != nil {
			t.Fatal(err)
		}
	}
	mk("files/a.txt", "alpha")
	mk("files/sub/b.txt", "bravo!")
	mk("files/secret.txt", "secret")
	mk("files2/c.txt", "charlie")
	mk("outside.txt", "outside")
	if err := os.Mkdir(filepath.Join(base, "files/dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(base, "files/secret.txt"), 0); err != nil {
		t.Fatal(err)
	}
	link("../outside.txt", "files/out")
	link("sub/b.txt", "files/in")
	link("sub", "files/subdir")
	link("../files2", "files/away")
	roots, err = newSendfileRoots([]string{filepath.Join(base, "files")})
	if err != nil {
		t.Fatal(err)
	}
	return base, roots
}

func TestSendfileOpen(t *testing.T) {
	base, roots := sendfileTree(t)
	for _, tc := range []struct {
		name   string
		path   string // joined to base unless it starts with '!'
		status int
		body   string
	}{
		{"file under the root", "files/a.txt", 0, "alpha"},
		{"file deeper", "files/sub/b.txt", 0, "bravo!"},
		{"redundant slashes and dots", "files//sub/./b.txt", 0, "bravo!"},
		{"symlink inside to inside", "files/in", 0, "bravo!"},
		{"through a symlinked directory inside", "files/subdir/b.txt", 0, "bravo!"},
		{"missing", "files/nope.txt", 404, ""},
		{"missing in a missing directory", "files/no/such/thing", 404, ""},
		{"a file used as a directory", "files/a.txt/x", 404, ""},
		{"directory", "files/dir", 403, ""},
		{"the root itself", "files", 403, ""},
		{"symlink inside to outside", "files/out", 403, ""},
		{"through a symlink to a sibling", "files/away/c.txt", 403, ""},
		{"missing behind a symlink to outside", "files/away/none", 403, ""},
		{"sibling with the root as prefix", "files2/c.txt", 403, ""},
		{"outside the root", "outside.txt", 403, ""},
		{"missing outside the root", "nothing/here", 403, ""},
		{"dot-dot staying inside", "files/sub/../a.txt", 403, ""},
		{"dot-dot leaving", "files/../outside.txt", 403, ""},
		{"trailing dot-dot", "files/sub/..", 403, ""},
		{"etc passwd", "!/root/../etc/passwd", 403, ""},
		{"absolute outside", "!/etc/passwd", 403, ""},
		{"relative", "!files/a.txt", 403, ""},
		{"relative dot", "!./a.txt", 403, ""},
		{"empty", "!", 403, ""},
		{"NUL", "files/a.txt\x00.jpg", 403, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := filepath.Join(base, tc.path)
			if strings.HasPrefix(tc.path, "!") {
				name = tc.path[1:]
			} else if strings.Contains(tc.path, "..") || strings.Contains(tc.path, "//") || strings.Contains(tc.path, "/./") {
				name = base + "/" + tc.path // keep the raw form: Join would clean it
			}
			f, fi, status, reason := roots.open(name)
			if status != tc.status {
				t.Fatalf("open(%q) = status %d (%s), want %d", name, status, reason, tc.status)
			}
			if status != 0 {
				if f != nil || fi != nil || reason == "" {
					t.Fatalf("open(%q) failed with f=%v fi=%v reason=%q", name, f, fi, reason)
				}
				return
			}
			defer f.Close()
			if reason != "" || !fi.Mode().IsRegular() || fi.Size() != int64(len(tc.body)) {
				t.Fatalf("open(%q): reason %q, info %v", name, reason, fi)
			}
			got, err := io.ReadAll(f)
			if err != nil || string(got) != tc.body {
				t.Fatalf("read %q, %v; want %q", got, err, tc.body)
			}
		})
	}
}

func TestSendfileOpenFIFO(t *testing.T) {
	_, roots := sendfileTree(t)
	p := filepath.Join(roots[0], "pipe")
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	// With no writer a blocking open would hang here for ever.
	if f, _, status, reason := roots.open(p); status != 403 || f != nil {
		t.Fatalf("fifo: status %d (%s)", status, reason)
	}
}

// TestSendfileUnreadable covers permission denied. Root reads a mode-000 file regardless, so there the
// file must be served and the mapping of EACCES is checked on its own (TestSendfileOpenErrorStatus).
func TestSendfileUnreadable(t *testing.T) {
	base, roots := sendfileTree(t)
	name := filepath.Join(base, "files/secret.txt")
	f, _, status, reason := roots.open(name)
	if f != nil {
		defer f.Close()
	}
	if os.Geteuid() == 0 {
		t.Run("as root", func(t *testing.T) {
			if status != 0 {
				t.Fatalf("root: status %d (%s), want the file", status, reason)
			}
		})
		return
	}
	t.Run("not root", func(t *testing.T) {
		if status != 403 || f != nil {
			t.Fatalf("mode 000: status %d (%s), want 403", status, reason)
		}
		// A directory without search permission hides what is below it.
		locked := filepath.Join(base, "files/sub")
		if err := os.Chmod(locked, 0); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(locked, 0o755) //nolint:errcheck // so TempDir can clean up
		if _, _, status, reason := roots.open(filepath.Join(locked, "b.txt")); status != 403 {
			t.Fatalf("unsearchable directory: status %d (%s), want 403", status, reason)
		}
	})
}

func TestSendfileOpenErrorStatus(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
	}{
		{&fs.PathError{Op: "open", Path: "/x", Err: syscall.ENOENT}, 404},
		{&fs.PathError{Op: "lstat", Path: "/x", Err: syscall.ENOTDIR}, 404},
		{&fs.PathError{Op: "open", Path: "/x", Err: syscall.ENAMETOOLONG}, 404},
		{&fs.PathError{Op: "open", Path: "/x", Err: syscall.EACCES}, 403},
		{&fs.PathError{Op: "open", Path: "/x", Err: syscall.EPERM}, 403},
		{&fs.PathError{Op: "open", Path: "/x", Err: syscall.ELOOP}, 403},
		{&fs.PathError{Op: "open", Path: "/x", Err: syscall.EMFILE}, 500},
		{errors.New("EvalSymlinks: too many links"), 500},
	} {
		if status, reason := sendfileOpenError(tc.err); status != tc.status || reason == "" {
			t.Errorf("%v: status %d (%q), want %d", tc.err, status, reason, tc.status)
		}
	}
}

func TestSendfileRootsContain(t *testing.T) {
	r := sendfileRoots{"/srv/files", "/data"}
	for p, want := range map[string]bool{
		"/srv/files": true, "/srv/files/a": true, "/srv/files/a/b": true, "/data/x": true,
		"/srv/files2": false, "/srv/files2/a": false, "/srv/file": false, "/srv": false, "/": false, "/database": false,
	} {
		if got := r.contain(p); got != want {
			t.Errorf("contain(%q) = %v", p, got)
		}
	}
	if !(sendfileRoots{"/"}).contain("/etc/passwd") {
		t.Error(`root "/" should contain everything`)
	}
	if (sendfileRoots{}).contain("/srv/files/a") {
		t.Error("no roots should contain nothing")
	}
}

func TestNewSendfileRoots(t *testing.T) {
	base, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(base, "real")
	if err := os.Mkdir(target, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(base, "alias")); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(base, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}

	roots, err := newSendfileRoots([]string{filepath.Join(base, "alias") + "/", base + "/./real"})
	if err != nil {
		t.Fatal(err)
	}
	if len(roots) != 2 || roots[0] != target || roots[1] != target {
		t.Fatalf("roots %q, want both resolved to %q", roots, target)
	}
	// The backend may name files by the configured, unresolved path.
	if err := os.WriteFile(filepath.Join(target, "a.txt"), []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, _, status, reason := roots.open(filepath.Join(base, "alias", "a.txt"))
	if status != 0 {
		t.Fatalf("through the aliased root: status %d (%s)", status, reason)
	}
	f.Close()
	if _, _, status, reason := roots.open(filepath.Join(base, "alias", "none")); status != 404 {
		t.Fatalf("missing through the aliased root: status %d (%s), want 404", status, reason)
	}

	for _, tc := range []struct {
		dir, want string
	}{
		{"relative/dir", "not an absolute path"},
		{"", "not an absolute path"},
		{filepath.Join(base, "missing"), "no such file"},
		{file, "not a directory"},
	} {
		_, err := newSendfileRoots([]string{target, tc.dir})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `"`+tc.dir+`"`) {
			t.Errorf("newSendfileRoots(%q) = %v, want an error naming it and saying %q", tc.dir, err, tc.want)
		}
	}
}
