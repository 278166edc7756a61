package emulator

import (
	"fmt"
	"net/http"
	"strconv"
)

// page is the PageNumber/PageSize window of a Describe* call. Embedded in a
// response it supplies TotalCount, PageNumber and PageSize; while the
// listing is walked, take counts every match and picks the ones on the page.
type page struct {
	TotalCount int
	PageNumber int
	PageSize   int
	skip       int // matches before the page still to pass over
	shown      int // matches taken onto the page
}

// pageArgs reads PageNumber/PageSize (default 1/10, PageSize at most maxSize).
func pageArgs(p params, maxSize int) (page, *apiError) {
	num, err := p.intIn("PageNumber", 1, 1, 1<<30)
	if err != nil {
		return page{}, err
	}
	size, err := p.intIn("PageSize", 10, 1, maxSize)
	if err != nil {
		return page{}, err
	}
	return page{PageNumber: num, PageSize: size, skip: (num - 1) * size}, nil
}

// regionPageArgs reads the RegionId (required) and PageNumber/PageSize of
// a regional Describe* call.
func regionPageArgs(p params, maxSize int) (string, page, *apiError) {
	region, err := p.required("RegionId")
	if err != nil {
		return "", page{}, err
	}
	pg, err := pageArgs(p, maxSize)
	return region, pg, err
}

// take counts one match and reports whether it belongs on the page.
func (pg *page) take() bool {
	pg.TotalCount++
	switch {
	case pg.skip > 0:
		pg.skip--
		return false
	case pg.shown == pg.PageSize:
		return false
	}
	pg.shown++
	return true
}

// tokenPage is a page that DescribeInstances and DescribeDisks may walk
// with NextToken/MaxResults instead: a token is the Seq of the first match
// of the next page.
type tokenPage struct {
	page
	NextToken string
	tokens    bool   // NextToken/MaxResults mode
	from      uint64 // Seq the token resumes at (0 without a token)
}

// tokenPageArgs reads NextToken/MaxResults (MaxResults default 10, at most
// maxResults) when either is present, else PageNumber/PageSize as pageArgs.
// In token mode PageNumber stays 0.
func tokenPageArgs(p params, maxResults, maxPageSize int) (tokenPage, *apiError) {
	if !p.has("NextToken") && !p.has("MaxResults") {
		pg, err := pageArgs(p, maxPageSize)
		return tokenPage{page: pg}, err
	}
	size, err := p.intIn("MaxResults", 10, 1, maxResults)
	if err != nil {
		return tokenPage{}, err
	}
	tp := tokenPage{page: page{PageSize: size}, tokens: true}
	if t := p.get("NextToken"); t != "" {
		if tp.from, err = decodeToken(t); err != nil {
			return tokenPage{}, err
		}
	}
	return tp, nil
}

// take is page.take for a match with sequence number seq; in token mode the
// first match past a full page becomes NextToken.
func (tp *tokenPage) take(seq uint64) bool {
	if !tp.tokens {
		return tp.page.take()
	}
	tp.TotalCount++
	if tp.shown == tp.PageSize {
		if tp.NextToken == "" {
			tp.NextToken = encodeToken(seq)
		}
		return false
	}
	tp.shown++
	return true
}

func encodeToken(seq uint64) string { return fmt.Sprintf("%016x", seq) }

func decodeToken(t string) (uint64, *apiError) {
	v, err := strconv.ParseUint(t, 16, 64)
	if err != nil || len(t) != 16 {
		return 0, newErr(http.StatusBadRequest, "InvalidParameter", "The specified NextToken is not valid.")
	}
	return v, nil
}
