package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// ImageRepo is the repository of every image this runtime builds; the tag is
// a content hash, so an unchanged binary never builds twice.
const ImageRepo = "chaos-node"

// imageFile is one file of an image's root file system.
type imageFile struct {
	// Path is the absolute path inside the image.
	Path string
	// Source is the host file to copy; empty for a directory.
	Source string
	Mode   int64
	// Link, when set, makes Path a symbolic link to it.
	Link string
}

// imageSpec is the content of an image built FROM scratch.
type imageSpec struct {
	Files      []imageFile
	Entrypoint []string
}

// tag names the image by a hash of everything that goes into it, file
// contents included.
func (s imageSpec) tag() (string, error) {
	h := sha256.New()
	meta, _ := json.Marshal(struct {
		E []string
		V int
	}{s.Entrypoint, 1})
	h.Write(meta)
	for _, f := range sortedFiles(s.Files) {
		fmt.Fprintf(h, "\x00%s\x00%o\x00%s\x00", f.Path, f.Mode, f.Link)
		if f.Source == "" {
			continue
		}
		r, err := os.Open(f.Source)
		if err != nil {
			return "", fmt.Errorf("image file %s: %w", f.Source, err)
		}
		_, err = io.Copy(h, r)
		r.Close()
		if err != nil {
			return "", fmt.Errorf("image file %s: %w", f.Source, err)
		}
	}
	return ImageRepo + ":" + hex.EncodeToString(h.Sum(nil))[:20], nil
}

func sortedFiles(fs []imageFile) []imageFile {
	out := append([]imageFile(nil), fs...)
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// buildContext is the tar stream the engine builds from: a Dockerfile and
// the root file system under rootfs/.
func (s imageSpec) buildContext() (*bytes.Buffer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	ep, _ := json.Marshal(s.Entrypoint)
	df := "FROM scratch\nCOPY rootfs/ /\nENTRYPOINT " + string(ep) + "\n"
	if err := writeTarFile(tw, "Dockerfile", 0o644, []byte(df)); err != nil {
		return nil, err
	}
	dirs := map[string]bool{}
	var addDir func(p string) error
	addDir = func(p string) error {
		if p == "/" || p == "." || dirs[p] {
			return nil
		}
		if err := addDir(path.Dir(p)); err != nil {
			return err
		}
		dirs[p] = true
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "rootfs" + p + "/", Mode: 0o755})
	}
	for _, f := range sortedFiles(s.Files) {
		if err := addDir(path.Dir(f.Path)); err != nil {
			return nil, err
		}
		name := "rootfs" + f.Path
		switch {
		case f.Link != "":
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: f.Link, Mode: 0o777}); err != nil {
				return nil, err
			}
		case f.Source == "":
			if dirs[f.Path] {
				continue
			}
			dirs[f.Path] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: f.Mode}); err != nil {
				return nil, err
			}
		default:
			b, err := os.ReadFile(f.Source)
			if err != nil {
				return nil, fmt.Errorf("image file %s: %w", f.Source, err)
			}
			if err := writeTarFile(tw, name, f.Mode, b); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return &buf, nil
}

func writeTarFile(tw *tar.Writer, name string, mode int64, b []byte) error {
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(b))}); err != nil {
		return err
	}
	_, err := tw.Write(b)
	return err
}

// ensureImage builds the image unless one with the same content hash
// exists, and returns its tag and whether it was built now.
func ensureImage(ctx context.Context, cli client.APIClient, s imageSpec, labels map[string]string) (string, bool, error) {
	tag, err := s.tag()
	if err != nil {
		return "", false, err
	}
	if _, err := cli.ImageInspect(ctx, tag); err == nil {
		return tag, false, nil
	} else if !errdefs.IsNotFound(err) {
		return "", false, fmt.Errorf("inspect image %s: %w", tag, err)
	}
	bc, err := s.buildContext()
	if err != nil {
		return "", false, fmt.Errorf("image %s: build context: %w", tag, err)
	}
	resp, err := cli.ImageBuild(ctx, bc, client.ImageBuildOptions{Tags: []string{tag}, Remove: true,
		ForceRemove: true, Labels: labels, Dockerfile: "Dockerfile"})
	if err != nil {
		return "", false, fmt.Errorf("build image %s: %w", tag, err)
	}
	defer resp.Body.Close()
	if err := readBuildStream(resp.Body); err != nil {
		return "", false, fmt.Errorf("build image %s: %w", tag, err)
	}
	return tag, true, nil
}

// readBuildStream drains the engine's JSON progress stream and returns the
// first error it reports.
func readBuildStream(r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var m struct {
			Error       string `json:"error"`
			ErrorDetail struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if m.Error != "" {
			return errors.New(strings.TrimSpace(m.Error))
		}
	}
}

// ownImage is the image of our own node programs: the chaos binary and an
// empty /tmp. A static binary (CGO_ENABLED=0) is all the image needs; a
// dynamic one is shipped with its loader and libraries, like a foreign
// program.
func ownImage(binary string) (imageSpec, error) {
	static, err := isStatic(binary)
	if err != nil {
		return imageSpec{}, err
	}
	if !static {
		return foreignImage(binary, nil)
	}
	return imageSpec{Entrypoint: []string{"/chaos"}, Files: []imageFile{
		{Path: "/chaos", Source: binary, Mode: 0o755},
		{Path: "/tmp", Mode: 0o1777},
		{Path: "/data", Mode: 0o755},
	}}, nil
}

// isStatic reports whether binary needs no loader.
func isStatic(binary string) (bool, error) {
	f, err := elf.Open(binary)
	if err != nil {
		return false, fmt.Errorf("chaos binary %s: %w", binary, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false, nil
		}
	}
	return true, nil
}

// foreignImage is the image of a program that is not ours (Redis): the
// program at its host path, every shared library it and the preloaded
// libraries need, at their host paths, and an empty /tmp.
func foreignImage(program string, preload []string) (imageSpec, error) {
	fs := newFileSet()
	if err := fs.addELF(program); err != nil {
		return imageSpec{}, fmt.Errorf("image for %s: %w", program, err)
	}
	for _, p := range preload {
		if err := fs.addELF(p); err != nil {
			return imageSpec{}, fmt.Errorf("image for %s: preload: %w", program, err)
		}
	}
	out := []imageFile{{Path: "/tmp", Mode: 0o1777}, {Path: "/data", Mode: 0o755}}
	return imageSpec{Entrypoint: []string{program}, Files: sortedFiles(append(out, fs.list()...))}, nil
}

// withHostFiles adds a node's host files and directories (core.NodeSpec's
// HostFiles) to an image: each at its host path, directories walked whole,
// symbolic links kept as links (and what they name added too), and every
// shared library an ELF file among them needs.
func withHostFiles(s imageSpec, paths []string) (imageSpec, error) {
	if len(paths) == 0 {
		return s, nil
	}
	fs := newFileSet()
	for _, f := range s.Files {
		fs.seen[f.Path] = true
		fs.files[f.Path] = f
	}
	for _, p := range paths {
		if !filepath.IsAbs(p) {
			return imageSpec{}, fmt.Errorf("host file %s: not an absolute path", p)
		}
		if err := fs.addTree(filepath.Clean(p)); err != nil {
			return imageSpec{}, fmt.Errorf("host file %s: %w", p, err)
		}
	}
	s.Files = sortedFiles(fs.list())
	return s, nil
}

// fileSet gathers an image's files by path.
type fileSet struct {
	files map[string]imageFile
	seen  map[string]bool
}

func newFileSet() *fileSet {
	return &fileSet{files: map[string]imageFile{}, seen: map[string]bool{}}
}

func (fs *fileSet) list() []imageFile {
	out := make([]imageFile, 0, len(fs.files))
	for _, f := range fs.files {
		out = append(out, f)
	}
	return out
}

// addELF adds an executable or library, the links that lead to it, its
// loader and the libraries it needs.
func (fs *fileSet) addELF(p string) error {
	if fs.seen[p] {
		return nil
	}
	fs.seen[p] = true
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	// Libraries get the execute bit too: the loader is one, and the
	// kernel refuses to map a loader it may not execute.
	if real != p {
		// Keep the name the loader asks for and the file it names.
		fs.files[p] = imageFile{Path: p, Link: real}
	}
	fs.seen[real] = true
	fs.files[real] = imageFile{Path: real, Source: real, Mode: 0o755}
	interp, needed, rpaths, err := elfDeps(real)
	if err != nil {
		return err
	}
	if interp != "" {
		if err := fs.addELF(interp); err != nil {
			return err
		}
	}
	for _, lib := range needed {
		lp, err := findLib(lib, rpaths)
		if err != nil {
			return fmt.Errorf("%s needs %s: %w", p, lib, err)
		}
		if err := fs.addELF(lp); err != nil {
			return err
		}
	}
	return nil
}

// addTree adds a file, a link or a whole directory.
func (fs *fileSet) addTree(p string) error {
	if fs.seen[p] {
		return nil
	}
	st, err := os.Lstat(p)
	if err != nil {
		return err
	}
	switch {
	case st.Mode()&os.ModeSymlink != 0:
		fs.seen[p] = true
		target, err := os.Readlink(p)
		if err != nil {
			return err
		}
		fs.files[p] = imageFile{Path: p, Link: target}
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(p), target)
		}
		return fs.addTree(filepath.Clean(target))
	case st.IsDir():
		fs.seen[p] = true
		fs.files[p] = imageFile{Path: p, Mode: int64(st.Mode().Perm())}
		ents, err := os.ReadDir(p)
		if err != nil {
			return err
		}
		for _, e := range ents {
			if err := fs.addTree(filepath.Join(p, e.Name())); err != nil {
				return err
			}
		}
		return nil
	case st.Mode().IsRegular():
		if isELF(p) {
			return fs.addELF(p)
		}
		fs.seen[p] = true
		fs.files[p] = imageFile{Path: p, Source: p, Mode: int64(st.Mode().Perm())}
		return nil
	}
	return nil // sockets, devices: nothing an image can hold
}

// isELF reports whether p starts with the ELF magic.
func isELF(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	var b [4]byte
	if _, err := io.ReadFull(f, b[:]); err != nil {
		return false
	}
	return string(b[:]) == "\x7fELF"
}

// elfDeps reads an ELF file's loader, needed libraries and search paths.
func elfDeps(p string) (interp string, needed, rpaths []string, err error) {
	f, err := elf.Open(p)
	if err != nil {
		return "", nil, nil, fmt.Errorf("read %s: %w", p, err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			b, err := io.ReadAll(prog.Open())
			if err != nil {
				return "", nil, nil, fmt.Errorf("read loader of %s: %w", p, err)
			}
			interp = strings.TrimRight(string(b), "\x00")
		}
	}
	needed, err = f.DynString(elf.DT_NEEDED)
	if err != nil {
		// A static file has no dynamic section.
		return interp, nil, nil, nil
	}
	for _, tag := range []elf.DynTag{elf.DT_RPATH, elf.DT_RUNPATH} {
		rs, _ := f.DynString(tag)
		for _, r := range rs {
			for _, d := range strings.Split(r, ":") {
				rpaths = append(rpaths, strings.ReplaceAll(d, "$ORIGIN", filepath.Dir(p)))
			}
		}
	}
	return interp, needed, rpaths, nil
}

// libDirs are where the loader looks on Debian-like systems.
var libDirs = []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu",
	"/usr/lib/aarch64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib", "/usr/local/lib"}

func findLib(name string, rpaths []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	for _, d := range append(rpaths, libDirs...) {
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("not found in %s", strings.Join(libDirs, ", "))
}
