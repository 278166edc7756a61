package state

// Taggable is any live resource whose tags can change, with the tag
// operations of its kind: instances go through the store so the tag index
// stays current.
type Taggable struct {
	Type string // instance, disk, image, snapshot
	ID   string
	tags func() []Tag
	set  func(k, v string)
	del  func(k string)
}

// Tags are the resource's tags now.
func (t *Taggable) Tags() []Tag { return t.tags() }

// Set sets one tag.
func (t *Taggable) Set(k, v string) { t.set(k, v) }

// Remove removes one tag (absent: nothing happens).
func (t *Taggable) Remove(k string) { t.del(k) }

// Taggable finds a live resource of kind typ ("instance", "disk", "image",
// "snapshot") in region ("" = any); the caller holds the store lock. An
// unknown one is NotFound with Resource ResAny.
func (st *Store) Taggable(typ, id, region string) (*Taggable, error) {
	switch typ {
	case "instance":
		if in, err := st.LiveInstance(id, region); err == nil {
			return &Taggable{typ, id, func() []Tag { return in.Tags },
				func(k, v string) { st.SetInstanceTag(in, k, v) }, func(k string) { st.RemoveInstanceTag(in, k) }}, nil
		}
	case "disk":
		if d, err := st.LiveDisk(id, region); err == nil {
			return tagSlice(typ, id, &d.Tags), nil
		}
	case "image":
		if im, err := st.LiveImage(id, region); err == nil {
			return tagSlice(typ, id, &im.Tags), nil
		}
	case "snapshot":
		if sn, err := st.LiveSnapshot(id, region); err == nil {
			return tagSlice(typ, id, &sn.Tags), nil
		}
	}
	return nil, &Error{Kind: NotFound, Resource: ResAny, ID: id}
}

// tagSlice adapts a resource whose tags are a plain slice (not indexed).
func tagSlice(typ, id string, tags *[]Tag) *Taggable {
	return &Taggable{typ, id, func() []Tag { return *tags },
		func(k, v string) { *tags = SetTag(*tags, k, v) }, func(k string) { *tags = RemoveTag(*tags, k) }}
}

// ApplyTags sets tags on every resource or none: no resource may end with
// more than max tags (TagLimit), checked for all first.
func ApplyTags(rs []*Taggable, tags []Tag, max int) error {
	for _, r := range rs {
		merged := append([]Tag(nil), r.Tags()...)
		for _, t := range tags {
			merged = SetTag(merged, t.Key, t.Value)
		}
		if len(merged) > max {
			return &Error{Kind: TagLimit, Resource: ResAny, ID: r.ID}
		}
	}
	for _, r := range rs {
		for _, t := range tags {
			r.Set(t.Key, t.Value)
		}
	}
	return nil
}
