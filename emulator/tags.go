package emulator

import (
	"net/http"
	"strings"

	"infrakit.aliyun/emulator/internal/state"
)

type taggable = state.Taggable

var resourceTypes = map[string]string{"instance": "instance", "disk": "disk", "image": "image", "snapshot": "snapshot"}

func normType(t string) (string, *apiError) {
	if t == "" {
		return "", errMissing("ResourceType")
	}
	n, ok := resourceTypes[strings.ToLower(t)]
	if !ok {
		return "", errInvalid("ResourceType", "instance, disk, image or snapshot")
	}
	return n, nil
}

// regionResourceType reads the RegionId (required) and ResourceType of a
// tag call.
func regionResourceType(p params) (string, *apiError) {
	if _, err := p.required("RegionId"); err != nil {
		return "", err
	}
	return normType(p.get("ResourceType"))
}

func errResourceNotFound(id string) *apiError {
	return newErr(http.StatusNotFound, "InvalidResourceId.NotFound", "The specified ResourceId %q does not exist.", id)
}

// resource finds a live taggable resource; caller holds the store lock.
func (s *Server) resource(typ, id, region string) (*taggable, *apiError) {
	return found(s.st.Taggable(typ, id, region))
}

// applyTags sets tags on every resource or none (see state.ApplyTags).
func applyTags(rs []*taggable, tags []Tag) *apiError {
	return ecsError(state.ApplyTags(rs, tags, maxTags))
}

func actAddTags(s *Server, c *call) (any, *apiError) {
	typ, err := regionResourceType(c.p)
	if err != nil {
		return nil, err
	}
	id, err := c.p.required("ResourceId")
	if err != nil {
		return nil, err
	}
	tags, err := parseTags(c.p)
	if err != nil {
		return nil, err
	}
	if len(tags) == 0 {
		return nil, errMissing("Tag.1.Key")
	}
	unlock := s.st.Lock(c.now)
	defer unlock()
	r, err := s.resource(typ, id, c.region)
	if err != nil {
		return nil, err
	}
	if err := applyTags([]*taggable{r}, tags); err != nil {
		return nil, err
	}
	c.mutated = true
	return &baseResp{c.requestID}, nil
}

func actRemoveTags(s *Server, c *call) (any, *apiError) {
	typ, err := regionResourceType(c.p)
	if err != nil {
		return nil, err
	}
	id, err := c.p.required("ResourceId")
	if err != nil {
		return nil, err
	}
	unlock := s.st.Lock(c.now)
	defer unlock()
	r, err := s.resource(typ, id, c.region)
	if err != nil {
		return nil, err
	}
	ms, err := tagElems(c.p)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		k := m["Key"]
		cur, ok := state.TagValue(r.Tags(), k)
		if !ok {
			continue
		}
		if v, hasV := m["Value"]; hasV && v != "" && v != cur {
			continue
		}
		r.Remove(k)
	}
	c.mutated = true
	return &baseResp{c.requestID}, nil
}

func (s *Server) resourceIDs(c *call, max int) ([]*taggable, string, *apiError) {
	typ, err := regionResourceType(c.p)
	if err != nil {
		return nil, "", err
	}
	ids, err := c.p.listIn("ResourceId", max)
	if err != nil {
		return nil, typ, err
	}
	if len(ids) == 0 {
		return nil, typ, errMissing("ResourceId.1")
	}
	var rs []*taggable
	for _, id := range ids {
		r, err := s.resource(typ, id, c.region)
		if err != nil {
			return nil, typ, err
		}
		rs = append(rs, r)
	}
	return rs, typ, nil
}

func actTagResources(s *Server, c *call) (any, *apiError) {
	tags, err := parseTags(c.p)
	if err != nil {
		return nil, err
	}
	unlock := s.st.Lock(c.now)
	defer unlock()
	rs, _, err := s.resourceIDs(c, 50)
	if err != nil {
		return nil, err
	}
	if len(tags) == 0 {
		return nil, errMissing("Tag.1.Key")
	}
	if err := applyTags(rs, tags); err != nil {
		return nil, err
	}
	c.mutated = true
	return &baseResp{c.requestID}, nil
}

func actUntagResources(s *Server, c *call) (any, *apiError) {
	all, err := c.p.boolean("All", false)
	if err != nil {
		return nil, err
	}
	keys, err := c.p.listIn("TagKey", maxTags)
	if err != nil {
		return nil, err
	}
	unlock := s.st.Lock(c.now)
	defer unlock()
	rs, _, err := s.resourceIDs(c, 50)
	if err != nil {
		return nil, err
	}
	for _, r := range rs {
		ks := keys
		if all && len(ks) == 0 {
			for _, t := range r.Tags() {
				ks = append(ks, t.Key)
			}
		}
		for _, k := range ks {
			r.Remove(k)
		}
	}
	c.mutated = true
	return &baseResp{c.requestID}, nil
}

type tagResource struct {
	ResourceType string
	ResourceId   string
	TagKey       string
	TagValue     string
}

type listTagResourcesResp struct {
	baseResp
	NextToken    string
	TagResources struct {
		TagResource []tagResource
	}
}

// allTaggables lists live resources of a type in region, in creation order.
func (s *Server) allTaggables(typ, region string) []*taggable {
	var out []*taggable
	add := func(id string) {
		if r, err := s.resource(typ, id, region); err == nil {
			out = append(out, r)
		}
	}
	switch typ {
	case "instance":
		for _, in := range s.st.Order {
			if !in.Released() {
				add(in.ID)
			}
		}
	case "disk":
		for _, d := range s.st.DiskOrder {
			add(d.ID)
		}
	case "image":
		for _, im := range s.st.ImgOrder {
			add(im.ID)
		}
	case "snapshot":
		for _, sn := range state.InSeqOrder(s.st.Snapshots) {
			add(sn.ID)
		}
	}
	return out
}

func actListTagResources(s *Server, c *call) (any, *apiError) {
	typ, err := regionResourceType(c.p)
	if err != nil {
		return nil, err
	}
	ids, err := c.p.listIn("ResourceId", 50)
	if err != nil {
		return nil, err
	}
	filter, err := parseTagFilter(c.p)
	if err != nil {
		return nil, err
	}
	offset := 0
	if t := c.p.get("NextToken"); t != "" {
		v, terr := decodeToken(t)
		if terr != nil {
			return nil, terr
		}
		offset = int(v)
	}
	const pageSize = 50
	unlock := s.st.Lock(c.now)
	defer unlock()
	var rs []*taggable
	if len(ids) > 0 {
		for _, id := range ids {
			if r, err := s.resource(typ, id, c.region); err == nil {
				rs = append(rs, r)
			}
		}
	} else {
		rs = s.allTaggables(typ, c.region)
	}
	r := &listTagResourcesResp{baseResp: baseResp{c.requestID}}
	r.TagResources.TagResource = []tagResource{}
	n := 0
	for _, res := range rs {
		if !state.MatchTags(res.Tags(), filter) {
			continue
		}
		for _, t := range res.Tags() {
			if n >= offset && len(r.TagResources.TagResource) < pageSize {
				r.TagResources.TagResource = append(r.TagResources.TagResource, tagResource{res.Type, res.ID, t.Key, t.Value})
			} else if n >= offset && r.NextToken == "" {
				r.NextToken = encodeToken(uint64(n))
			}
			n++
		}
	}
	return r, nil
}

type describeTagsResp struct {
	baseResp
	page
	Tags struct {
		Tag []describedTag
	}
}

type describedTag struct {
	TagKey            string
	TagValue          string
	ResourceTypeCount map[string]int
}

func actDescribeTags(s *Server, c *call) (any, *apiError) {
	_, pg, err := regionPageArgs(c.p, 100)
	if err != nil {
		return nil, err
	}
	filter, err := parseTagFilter(c.p)
	if err != nil {
		return nil, err
	}
	types := []string{"instance", "disk", "image", "snapshot"}
	if t := c.p.get("ResourceType"); t != "" {
		n, err := normType(t)
		if err != nil {
			return nil, err
		}
		types = []string{n}
	}
	rid := c.p.get("ResourceId")
	unlock := s.st.Lock(c.now)
	defer unlock()
	type kv struct{ k, v string }
	counts := map[kv]map[string]int{}
	var order []kv
	for _, typ := range types {
		for _, r := range s.allTaggables(typ, c.region) {
			if rid != "" && r.ID != rid {
				continue
			}
			for _, t := range r.Tags() {
				if len(filter) > 0 && !matchAny(t, filter) {
					continue
				}
				x := kv{t.Key, t.Value}
				if counts[x] == nil {
					counts[x] = map[string]int{}
					order = append(order, x)
				}
				counts[x][strings.ToUpper(typ[:1])+typ[1:]]++
			}
		}
	}
	r := &describeTagsResp{baseResp: baseResp{c.requestID}, page: pg}
	r.Tags.Tag = []describedTag{}
	for _, x := range order {
		if r.take() {
			r.Tags.Tag = append(r.Tags.Tag, describedTag{x.k, x.v, counts[x]})
		}
	}
	return r, nil
}

// matchAny reports whether tag t passes at least one of the filters.
func matchAny(t Tag, f []tagFilter) bool {
	for _, x := range f {
		if state.MatchTags([]Tag{t}, []tagFilter{x}) {
			return true
		}
	}
	return false
}
