/*
 * The floor of the etc step: the fewest system calls that bring /etc to what a NixOS etc tree
 * declares, in C, with nothing else. Not a tool: bench/etc.ts times it beside `stagehand etc` on the
 * same trees, so that "stagehand ÷ floor" says how much of stagehand's time is its own.
 *
 * Usage: etc-floor ETC-TREE   (run by chroot, like stagehand, against that root's /etc)
 *
 * What it does, and no more (the work any correct implementation must do):
 *   - /etc/static points at ETC-TREE (readlink; symlink + rename when it differs);
 *   - every entry of the tree (one getdents walk, d_type, no stat): a link entry is a symlink
 *     /etc/NAME -> /etc/static/NAME, a `direct-symlink` entry a symlink to the entry's own target, a
 *     copy (sidecars NAME.mode/.uid/.gid, numeric owners "+N") a regular file with that content, mode
 *     and owner. Each is checked (readlink, or open + fstat + read and compare) and only a difference
 *     is written: a symlink or a file under a temporary name, renamed into place; missing parent
 *     directories are made;
 *   - obsolete entries go: every symlink under /etc (one getdents walk) that points into /etc/static
 *     and is not declared any more is removed; copies and direct symlinks listed in the old /etc/.clean
 *     and not declared any more are removed; /etc/.clean is rewritten only when it changes; /etc/NIXOS
 *     is created when missing;
 *   - durability as stagehand's: each new file is fsync'd before its rename (from 16 files on, one
 *     syncfs instead), and each directory changed is fsync'd after.
 * It does not lock, validate names, confine paths to the root, resolve owner names or report: those
 * are what stagehand does above the floor.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAXN 65536
#define PATHLEN 4096

struct copy { char *name; char *src; unsigned mode; long uid, gid; };

static char *declared[MAXN];   /* every name the tree declares (links and copies) */
static int ndeclared;
static struct copy copies[MAXN];
static int ncopies;
static struct { char *name; char *target; } links[MAXN];
static int nlinks;
static char *cleannames[MAXN]; /* copies and direct symlinks: what /etc/.clean lists */
static int nclean;
static char *dirty[MAXN];      /* directories to fsync after the renames */
static int ndirty;
static const char *tree;

static char *xstrdup(const char *s) { char *d = strdup(s); if (!d) abort(); return d; }

static void mark_dirty(const char *path) {
  char d[PATHLEN];
  snprintf(d, sizeof d, "%s", path);
  char *slash = strrchr(d, '/');
  if (slash == d) slash[1] = 0; else *slash = 0;
  for (int i = 0; i < ndirty; i++) if (strcmp(dirty[i], d) == 0) return;
  dirty[ndirty++] = xstrdup(d);
}

/* mkdir -p of NAME's parents under /etc (EEXIST is the common, one-call case). */
static void parents(const char *name) {
  char p[PATHLEN];
  int n = snprintf(p, sizeof p, "/etc/%s", name);
  for (int i = 5; i < n; i++) {
    if (p[i] != '/') continue;
    p[i] = 0;
    if (mkdir(p, 0755) == 0) mark_dirty(p);
    p[i] = '/';
  }
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }
static int is_declared(const char *name) {
  return bsearch(&name, declared, ndeclared, sizeof *declared, cmp_str) != NULL;
}

static long read_small(const char *path, char *buf, size_t len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t r = read(fd, buf, len - 1);
  close(fd);
  if (r < 0) return -1;
  buf[r] = 0;
  return r;
}

/* Walks the tree (relative REL), collecting link and copy entries from one listing per directory. */
static void walk_tree(const char *rel) {
  char dir[PATHLEN];
  snprintf(dir, sizeof dir, "%s%s%s", tree, *rel ? "/" : "", rel);
  DIR *d = opendir(dir);
  if (!d) return;
  char *names[4096]; unsigned char types[4096]; int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) && n < 4096) {
    if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2]))) continue;
    names[n] = xstrdup(e->d_name); types[n++] = e->d_type;
  }
  closedir(d);
  for (int i = 0; i < n; i++) {
    const char *nm = names[i];
    size_t l = strlen(nm);
    if (l > 5 && (!strcmp(nm + l - 5, ".mode") || !strcmp(nm + l - 4, ".uid") || !strcmp(nm + l - 4, ".gid"))) continue;
    char r[PATHLEN];
    snprintf(r, sizeof r, "%s%s%s", rel, *rel ? "/" : "", nm);
    if (types[i] == DT_DIR) { walk_tree(r); continue; }
    /* A sidecar in the same listing makes it a copy or a direct symlink (no extra lookup). */
    char side[PATHLEN]; snprintf(side, sizeof side, "%s.mode", nm);
    int has_mode = 0;
    for (int k = 0; k < n; k++) if (!strcmp(names[k], side)) { has_mode = 1; break; }
    declared[ndeclared++] = xstrdup(r);
    char target[PATHLEN];
    if (!has_mode) {
      snprintf(target, sizeof target, "/etc/static/%s", r);
      links[nlinks].name = declared[ndeclared - 1]; links[nlinks++].target = xstrdup(target);
      continue;
    }
    char p[PATHLEN], buf[64];
    snprintf(p, sizeof p, "%s/%s.mode", dir, nm);
    read_small(p, buf, sizeof buf);
    if (!strncmp(buf, "direct-symlink", 14)) {
      snprintf(p, sizeof p, "%s/%s", dir, nm);
      ssize_t k = readlink(p, target, sizeof target - 1);
      target[k < 0 ? 0 : k] = 0;
      links[nlinks].name = declared[ndeclared - 1]; links[nlinks++].target = xstrdup(target);
      cleannames[nclean++] = declared[ndeclared - 1];
      continue;
    }
    cleannames[nclean++] = declared[ndeclared - 1];
    struct copy *c = &copies[ncopies++];
    c->name = declared[ndeclared - 1];
    c->mode = (unsigned)strtoul(buf, NULL, 8);
    snprintf(p, sizeof p, "%s/%s.uid", dir, nm); read_small(p, buf, sizeof buf); c->uid = strtol(buf + (buf[0] == '+'), NULL, 10);
    snprintf(p, sizeof p, "%s/%s.gid", dir, nm); read_small(p, buf, sizeof buf); c->gid = strtol(buf + (buf[0] == '+'), NULL, 10);
    snprintf(p, sizeof p, "/etc/static/%s", r);
    c->src = xstrdup(p);
  }
  for (int i = 0; i < n; i++) free(names[i]);
}

static void link_into_place(const char *path, const char *target) {
  char cur[PATHLEN];
  ssize_t k = readlink(path, cur, sizeof cur - 1);
  if (k >= 0) { cur[k] = 0; if (!strcmp(cur, target)) return; }
  char tmp[PATHLEN];
  snprintf(tmp, sizeof tmp, "%s.floor-tmp", path);
  unlink(tmp);
  if (symlink(target, tmp) == 0 && rename(tmp, path) == 0) mark_dirty(path);
}

static char srcbuf[1 << 20], curbuf[1 << 20];
static int pending_fds[MAXN], npending;
static char *pending_tmp[MAXN], *pending_dst[MAXN];

/* Leaves /etc/NAME alone when it already is the copy, else stages a new file (renamed into place later). */
static void copy_into_place(struct copy *c) {
  char path[PATHLEN];
  snprintf(path, sizeof path, "/etc/%s", c->name);
  int sfd = open(c->src, O_RDONLY | O_CLOEXEC);
  if (sfd < 0) return;
  ssize_t sl = read(sfd, srcbuf, sizeof srcbuf);
  close(sfd);
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd >= 0) {
    struct stat st;
    int same = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == c->mode &&
               st.st_uid == (uid_t)c->uid && st.st_gid == (gid_t)c->gid && st.st_size == sl &&
               read(fd, curbuf, sizeof curbuf) == sl && memcmp(srcbuf, curbuf, (size_t)sl) == 0;
    close(fd);
    if (same) return;
  }
  parents(c->name);
  char tmp[PATHLEN];
  snprintf(tmp, sizeof tmp, "%s.floor-tmp", path);
  unlink(tmp);
  int t = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (t < 0) return;
  if (write(t, srcbuf, (size_t)sl) != sl) { close(t); return; }
  fchown(t, (uid_t)c->uid, (gid_t)c->gid);
  fchmod(t, c->mode);
  pending_fds[npending] = t; pending_tmp[npending] = xstrdup(tmp); pending_dst[npending++] = xstrdup(path);
}

/* Removes symlinks into /etc/static that the tree no longer declares (one listing per directory). */
static void sweep(const char *rel) {
  char dir[PATHLEN];
  snprintf(dir, sizeof dir, "/etc%s%s", *rel ? "/" : "", rel);
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2]))) continue;
    if (!*rel && !strcmp(e->d_name, "static")) continue;
    char r[PATHLEN];
    snprintf(r, sizeof r, "%s%s%s", rel, *rel ? "/" : "", e->d_name);
    if (e->d_type == DT_DIR) { sweep(r); continue; }
    if (e->d_type != DT_LNK || is_declared(r)) continue;
    char p[PATHLEN], target[PATHLEN];
    snprintf(p, sizeof p, "/etc/%s", r);
    ssize_t k = readlink(p, target, sizeof target - 1);
    if (k < 0) continue;
    target[k] = 0;
    if (!strncmp(target, "/etc/static/", 12) && unlink(p) == 0) mark_dirty(p);
  }
  closedir(d);
}

int main(int argc, char **argv) {
  if (argc != 2) { fprintf(stderr, "usage: etc-floor ETC-TREE\n"); return 2; }
  tree = argv[1];
  link_into_place("/etc/static", tree);
  walk_tree("");
  qsort(declared, ndeclared, sizeof *declared, cmp_str);
  for (int i = 0; i < nlinks; i++) {
    char path[PATHLEN];
    snprintf(path, sizeof path, "/etc/%s", links[i].name);
    char cur[PATHLEN];
    ssize_t k = readlink(path, cur, sizeof cur - 1);
    if (k >= 0) { cur[k] = 0; if (!strcmp(cur, links[i].target)) continue; }
    parents(links[i].name);
    link_into_place(path, links[i].target);
  }
  for (int i = 0; i < ncopies; i++) copy_into_place(&copies[i]);
  /* Durable before visible: fsync each new file, or one syncfs from 16 on. */
  if (npending >= 16) syncfs(pending_fds[0]);
  else for (int i = 0; i < npending; i++) fsync(pending_fds[i]);
  for (int i = 0; i < npending; i++) {
    close(pending_fds[i]);
    if (rename(pending_tmp[i], pending_dst[i]) == 0) mark_dirty(pending_dst[i]);
  }
  sweep("");
  /* .clean: the old list's copies not declared any more go; the list is rewritten only on change. */
  static char oldclean[1 << 20], newclean[1 << 20];
  long ol = read_small("/etc/.clean", oldclean, sizeof oldclean);
  if (ol < 0) ol = 0, oldclean[0] = 0;
  qsort(cleannames, nclean, sizeof *cleannames, cmp_str);
  size_t nl = 0;
  for (int i = 0; i < nclean; i++) nl += (size_t)snprintf(newclean + nl, sizeof newclean - nl, "%s\n", cleannames[i]);
  if ((size_t)ol != nl || memcmp(oldclean, newclean, nl) != 0) {
    for (char *line = strtok(oldclean, "\n"); line; line = strtok(NULL, "\n")) {
      if (is_declared(line)) continue;
      char p[PATHLEN]; snprintf(p, sizeof p, "/etc/%s", line);
      if (unlink(p) == 0) mark_dirty(p);
    }
    int t = open("/etc/.clean.floor-tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (t >= 0) {
      if (write(t, newclean, nl) == (ssize_t)nl) fsync(t);
      close(t);
      if (rename("/etc/.clean.floor-tmp", "/etc/.clean") == 0) mark_dirty("/etc/.clean");
    }
  }
  /* /etc/NIXOS marks a NixOS /etc (setup-etc.pl's tag): created once, empty. */
  int tag = open("/etc/NIXOS", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (tag >= 0) { close(tag); mark_dirty("/etc/NIXOS"); }
  for (int i = 0; i < ndirty; i++) {
    int fd = open(dirty[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) { fsync(fd); close(fd); }
  }
  return 0;
}
