package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/web/action"
	"github.com/scmadmin/scmadmin/web/provider"
)

// Configuration files (scmadmin export, scmadmin apply -f FILE, SCMADMIN_CONFIG_FILE): a list
// under scms: of configurations, each with its id, provider, the provider's fields by their form
// names (the URLs under urls: as web, api and ssh), enabled and default. Which keys an entry
// takes is the catalog's: every field of its provider.

// Keys of an entry besides its provider's fields.
const (
	keyID       = "id"
	keyProvider = "provider"
	keyURLs     = "urls"
	keyEnabled  = action.FieldEnabled
	keyDefault  = action.FieldDefault
)

// maxSecretFile bounds what a file:PATH secret may hold.
const maxSecretFile = 64 << 10

// configFile is a configuration file as read.
type configFile struct {
	// path is the file's absolute path, "" for standard input; name is how messages name it.
	path, name string
	entries    []action.Entry
	// lines are where each entry starts, and each of its keys (by form field name, or id,
	// provider, enabled, default).
	lines []entryLines
}

type entryLines struct {
	line int
	keys map[string]int
}

// readConfigFile reads the configuration file at path ("-": standard input), taking its
// secrets from the environment (${NAME}) or from files (file:PATH, relative to the file's
// folder). Every fault is reported, each with its line, the entry's id and the key.
func readConfigFile(path string, stdin io.Reader, getenv func(string) string) (*configFile, error) {
	f := &configFile{name: "standard input"}
	dir := "."
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(io.LimitReader(stdin, maxConfigFile+1))
	} else {
		if f.path, err = filepath.Abs(path); err != nil {
			return nil, err
		}
		f.name, dir = path, filepath.Dir(f.path)
		data, err = readLimited(f.path, maxConfigFile)
	}
	if err != nil {
		return nil, fmt.Errorf("read the configuration file: %w", err)
	}
	if len(data) > maxConfigFile {
		return nil, fmt.Errorf("%s: the configuration file is over %d MiB", f.name, maxConfigFile>>20)
	}
	r := &fileReader{f: f, dir: dir, getenv: getenv}
	r.parse(data)
	if len(r.faults) > 0 {
		return nil, errors.New(strings.Join(r.faults, "\n"))
	}
	return f, nil
}

// maxConfigFile bounds a configuration file.
const maxConfigFile = 4 << 20

func readLimited(path string, limit int64) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	return io.ReadAll(io.LimitReader(fh, limit+1))
}

// fileReader parses a configuration file, collecting its faults.
type fileReader struct {
	f      *configFile
	dir    string
	getenv func(string) string
	faults []string
}

func (r *fileReader) fault(line int, entry, key, msg string) {
	where := fmt.Sprintf("%s:%d: ", r.f.name, line)
	if entry != "" {
		where += entry + ": "
	}
	if key != "" {
		where += key + ": "
	}
	r.faults = append(r.faults, where+msg)
}

func (r *fileReader) parse(data []byte) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		r.faults = append(r.faults, fmt.Sprintf("%s: not YAML: %v", r.f.name, err))
		return
	}
	if len(doc.Content) == 0 {
		r.fault(1, "", "", "the file is empty: list the configurations under scms:")
		return
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		r.fault(root.Line, "", "", "the file must be a mapping with the list scms:")
		return
	}
	var list *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Value != "scms" {
			r.fault(k.Line, "", "", fmt.Sprintf("unknown key %q: the file holds only scms:", k.Value))
			continue
		}
		list = v
	}
	switch {
	case list == nil:
		r.fault(root.Line, "", "", "the list scms: is missing")
		return
	case list.Kind == yaml.ScalarNode && list.Tag == "!!null":
		return // scms: with nothing: no configuration
	case list.Kind != yaml.SequenceNode:
		r.fault(list.Line, "", "scms", "must be a list of configurations")
		return
	}
	for i, n := range list.Content {
		r.entry(i, n)
	}
}

// entryName is how messages name entry i: by its id, else by its place.
func entryName(i int, id string) string {
	if id != "" {
		return fmt.Sprintf("entry %q", id)
	}
	return fmt.Sprintf("entry %d", i+1)
}

// entry parses entry i of the list.
func (r *fileReader) entry(i int, n *yaml.Node) {
	e := action.Entry{Fields: url.Values{}, Enabled: true}
	lines := entryLines{line: n.Line, keys: map[string]int{}}
	r.f.entries, r.f.lines = append(r.f.entries, e), append(r.f.lines, lines)
	if n.Kind != yaml.MappingNode {
		r.fault(n.Line, entryName(i, ""), "", "must be a mapping of keys (id, provider, urls …)")
		return
	}
	pairs := map[string]*yaml.Node{}
	for j := 0; j+1 < len(n.Content); j += 2 {
		k := n.Content[j]
		if _, dup := pairs[k.Value]; dup {
			r.fault(k.Line, entryName(i, ""), k.Value, "given twice")
		}
		pairs[k.Value] = n.Content[j+1]
	}
	e.ID = r.scalar(i, "", keyID, pairs[keyID])
	name := entryName(i, e.ID)
	e.Provider = r.scalar(i, name, keyProvider, pairs[keyProvider])
	p, ok := provider.Lookup(e.Provider)
	if !ok || !p.Selectable() {
		line := n.Line
		if v := pairs[keyProvider]; v != nil {
			line = v.Line
		}
		r.fault(line, name, keyProvider, "choose one of "+strings.Join(providerIDs(), ", "))
		return
	}
	for j := 0; j+1 < len(n.Content); j += 2 {
		k, v := n.Content[j], n.Content[j+1]
		lines.keys[k.Value] = k.Line
		switch k.Value {
		case keyID, keyProvider:
		case keyEnabled, keyDefault:
			b := r.boolean(name, k.Value, v)
			if k.Value == keyEnabled {
				e.Enabled = b
			} else {
				e.Default = b
			}
		case keyURLs:
			r.urls(i, name, p, v, &e, lines)
		default:
			f, ok := p.Field(k.Value)
			if !ok || f.URLKey != "" {
				r.fault(k.Line, name, "", fmt.Sprintf("unknown key %q: a %s configuration takes %s", k.Value, p.ID, strings.Join(entryKeys(p), ", ")))
				continue
			}
			r.field(i, name, f, v, &e)
		}
	}
	r.f.entries[i], r.f.lines[i] = e, lines
}

// field reads the value of f, a field that is no URL, into e.
func (r *fileReader) field(i int, name string, f provider.Field, v *yaml.Node, e *action.Entry) {
	val := r.scalar(i, name, f.Name, v)
	if f.Kind == provider.KindSecret && val != "" {
		val = r.secret(name, f.Name, v.Line, val)
	}
	if val != "" {
		e.Fields.Set(f.Name, val)
	}
}

// urls reads the mapping urls: of entry i into e.
func (r *fileReader) urls(i int, name string, p *provider.Provider, v *yaml.Node, e *action.Entry, lines entryLines) {
	if v.Kind != yaml.MappingNode {
		r.fault(v.Line, name, keyURLs, "must be a mapping: {web: …, api: …, ssh: …}")
		return
	}
	for j := 0; j+1 < len(v.Content); j += 2 {
		k, u := v.Content[j], v.Content[j+1]
		f, ok := urlField(p, k.Value)
		if !ok {
			r.fault(k.Line, name, keyURLs, fmt.Sprintf("unknown key %q: urls takes web, api and ssh", k.Value))
			continue
		}
		lines.keys[f.Name] = k.Line
		if val := r.scalar(i, name, keyURLs+"."+k.Value, u); val != "" {
			e.Fields.Set(f.Name, val)
		}
	}
}

// urlField is p's field whose URLKey is key.
func urlField(p *provider.Provider, key string) (provider.Field, bool) {
	for _, f := range p.Fields() {
		if f.URLKey != "" && f.URLKey == key {
			return f, true
		}
	}
	return provider.Field{}, false
}

// scalar is v's text, "" for null or nothing.
func (r *fileReader) scalar(i int, name, key string, v *yaml.Node) string {
	if v == nil || v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
		return ""
	}
	if v.Kind != yaml.ScalarNode {
		r.fault(v.Line, cmpOr(name, entryName(i, "")), key, "must be a single value, not a list or a mapping")
		return ""
	}
	return v.Value
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (r *fileReader) boolean(name, key string, v *yaml.Node) bool {
	var b bool
	if v.Kind != yaml.ScalarNode || v.Tag != "!!bool" || v.Decode(&b) != nil {
		r.fault(v.Line, name, key, "must be true or false")
	}
	return b
}

var envRef = regexp.MustCompile(`^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$`)

// secret resolves a secret's reference: ${NAME} from the environment, file:PATH from a file.
func (r *fileReader) secret(name, key string, line int, ref string) string {
	if m := envRef.FindStringSubmatch(ref); m != nil {
		v := r.getenv(m[1])
		if v == "" {
			r.fault(line, name, key, fmt.Sprintf("the environment variable %s is not set", m[1]))
		}
		return v
	}
	if path, ok := strings.CutPrefix(ref, "file:"); ok && path != "" {
		if !filepath.IsAbs(path) {
			path = filepath.Join(r.dir, path)
		}
		data, err := readLimited(path, maxSecretFile)
		switch {
		case err != nil:
			r.fault(line, name, key, fmt.Sprintf("cannot read the secret's file: %v", err))
		case len(data) > maxSecretFile:
			r.fault(line, name, key, fmt.Sprintf("the secret's file %s is over %d KiB", path, maxSecretFile>>10))
		}
		return string(bytes.TrimSpace(data))
	}
	r.fault(line, name, key, "write a secret as ${ENV_VARIABLE} or file:PATH, never the secret itself")
	return ""
}

func providerIDs() []string {
	var ids []string
	for _, p := range provider.Selectable() {
		ids = append(ids, p.ID)
	}
	return ids
}

// entryKeys are the keys an entry of p takes, in the order export writes them.
func entryKeys(p *provider.Provider) []string {
	keys := []string{keyID, keyProvider, store.FieldName, keyURLs}
	for _, f := range p.Fields() {
		if f.URLKey == "" && f.Name != store.FieldName {
			keys = append(keys, f.Name)
		}
	}
	return append(keys, keyEnabled, keyDefault)
}

// fileKey is how the file names field of provider providerID: urls.web for the Website URL.
func fileKey(providerID, field string) string {
	if p, ok := provider.Lookup(providerID); ok {
		if f, ok := p.Field(field); ok && f.URLKey != "" {
			return keyURLs + "." + f.URLKey
		}
	}
	return field
}

// describe says where in f each fault of errs is.
func (f *configFile) describe(errs action.EntryErrors) error {
	msgs := make([]string, len(errs))
	for i, e := range errs {
		if e.Index < 0 {
			msgs[i] = fmt.Sprintf("%s: %q, which the file no longer lists: %s", f.name, e.ID, e.Message)
			continue
		}
		lines, key := f.lines[e.Index], fileKey(f.entries[e.Index].Provider, e.Field)
		line := lines.line
		if l, ok := lines.keys[e.Field]; ok {
			line = l
		}
		where := fmt.Sprintf("%s:%d: %s: ", f.name, line, entryName(e.Index, e.ID))
		if e.Field != "" {
			where += key + ": "
		}
		msgs[i] = where + e.Message
	}
	return errors.New(strings.Join(msgs, "\n"))
}

// secretEnv is the environment variable export names for configuration ref's secret field:
// SCM_, the id upper-case with every character but letters and digits made _, _, the field
// upper-case. bb-algo's access_token is SCM_BB_ALGO_ACCESS_TOKEN.
func secretEnv(ref, field string) string {
	return "SCM_" + strings.ToUpper(notAlnum.ReplaceAllString(ref, "_")+"_"+field)
}

var notAlnum = regexp.MustCompile(`[^A-Za-z0-9]`)

// exportConfigs writes every configuration but the built-in one as a configuration file.
func exportConfigs(ctx context.Context, st *store.Store, w io.Writer) error {
	list := &yaml.Node{Kind: yaml.SequenceNode}
	for after := int64(0); ; {
		page, err := st.SCMConfigsAfter(ctx, after, 1000)
		if err != nil {
			return err
		}
		if len(page) == 0 {
			break
		}
		after = page[len(page)-1].ID
		for _, c := range page {
			if c.ID == store.BuiltInID {
				continue
			}
			n, err := exportEntry(ctx, st, c)
			if err != nil {
				return err
			}
			list.Content = append(list.Content, n)
		}
	}
	doc := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{str("scms"), list},
		HeadComment: "scmadmin export: every configuration but the built-in one. Secrets are ${ENV} references:\n" +
			"set each variable (or write file:PATH instead) before scmadmin apply -f FILE."}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return err
	}
	return enc.Close()
}

func str(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

func boolNode(b bool) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: fmt.Sprint(b)}
}

// exportEntry is c as an entry of a configuration file.
func exportEntry(ctx context.Context, st *store.Store, c store.SCMConfig) (*yaml.Node, error) {
	p, ok := provider.Lookup(c.Provider)
	if !ok {
		return nil, fmt.Errorf("configuration %s has the unknown provider %q", c.Ref, c.Provider)
	}
	secrets, err := st.SCMSecrets(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	urls := &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle}
	for _, f := range p.Fields() {
		if f.URLKey != "" {
			urls.Content = append(urls.Content, str(f.URLKey), str(c.Value(f.Name)))
		}
	}
	n := &yaml.Node{Kind: yaml.MappingNode}
	for _, key := range entryKeys(p) {
		var v *yaml.Node
		f, _ := p.Field(key)
		switch {
		case key == keyID:
			v = str(c.Ref)
		case key == keyProvider:
			v = str(c.Provider)
		case key == keyURLs:
			v = urls
		case key == keyEnabled:
			v = boolNode(c.Enabled)
		case key == keyDefault:
			v = boolNode(c.IsDefault)
		case f.Kind == provider.KindSecret:
			if _, set := secrets[key]; set {
				v = str("${" + secretEnv(c.Ref, key) + "}")
			}
		case c.Value(key) != "":
			v = str(c.Value(key))
		}
		if v != nil {
			n.Content = append(n.Content, str(key), v)
		}
	}
	return n, nil
}

// printPlan writes plan for a reviewer: + create, ~ update, - delete, each with the fields
// that change (a secret only as set, changed or unchanged, with fingerprints).
func printPlan(w io.Writer, f *configFile, plan action.Plan) {
	if len(plan.Changes) == 0 {
		fmt.Fprintf(w, "No changes: the configurations match %s.\n", f.name)
		return
	}
	count := map[action.Op]int{}
	for _, ch := range plan.Changes {
		count[ch.Op]++
		fmt.Fprintf(w, "%s %s (%s)\n", ch.Op, ch.ID, ch.Name)
		if ch.Op == action.OpCreate {
			fmt.Fprintf(w, "    provider: %s\n", ch.Provider)
		}
		for _, fc := range ch.Fields {
			fmt.Fprintf(w, "    %s: %s\n", planKey(ch.Provider, fc.Field), planValue(ch, fc))
		}
	}
	fmt.Fprintf(w, "Plan: %d to create, %d to update, %d to delete.\n", count[action.OpCreate], count[action.OpUpdate], count[action.OpDelete])
}

func planKey(providerID, field string) string {
	if field == store.FieldManagedBy {
		return "managed by"
	}
	return fileKey(providerID, field)
}

// planValue is a field's change: old → new, or the new value of a create; a secret's is its
// word and fingerprints.
func planValue(ch action.PlannedChange, fc store.Change) string {
	if p, ok := provider.Lookup(ch.Provider); ok {
		if f, ok := p.Field(fc.Field); ok && f.Kind == provider.KindSecret {
			return fc.From + " (fingerprint " + fc.To + ")"
		}
	}
	quote := func(s string) string {
		if s == "" {
			return "(none)"
		}
		return fmt.Sprintf("%q", s)
	}
	if fc.Field == action.FieldEnabled || fc.Field == action.FieldDefault {
		quote = func(s string) string { return s }
	}
	if ch.Op == action.OpCreate {
		return quote(fc.To)
	}
	return quote(fc.From) + " → " + quote(fc.To)
}
