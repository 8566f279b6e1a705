package config

import "slices"

// Clone returns a deep copy of c. It copies field by field: configs are
// cloned several times per change, and a JSON round trip cost most of a
// commit's time. TestCloneCopiesEveryField fails when a field is added to
// the model but not here.
func (c *Config) Clone() *Config {
	out := &Config{LBs: make([]LB, len(c.LBs))}
	for i := range c.LBs {
		out.LBs[i] = c.LBs[i].clone()
	}
	if c.LBs == nil {
		out.LBs = nil
	}
	if c.IPs != nil {
		out.IPs = make([]IP, len(c.IPs))
		for i, ip := range c.IPs {
			ip.Tags = slices.Clone(ip.Tags)
			out.IPs[i] = ip
		}
	}
	if c.Certificates != nil {
		out.Certificates = make([]Certificate, len(c.Certificates))
		for i := range c.Certificates {
			out.Certificates[i] = c.Certificates[i].clone()
		}
	}
	return out
}

func (lb LB) clone() LB {
	// Project is a string: the value copy shares nothing.
	lb.Tags = slices.Clone(lb.Tags)
	lb.IPs = slices.Clone(lb.IPs)
	if lb.Frontends != nil {
		fs := make([]Frontend, len(lb.Frontends))
		for i := range lb.Frontends {
			fs[i] = lb.Frontends[i].clone()
		}
		lb.Frontends = fs
	}
	if lb.Backends != nil {
		bs := make([]Backend, len(lb.Backends))
		for i := range lb.Backends {
			bs[i] = lb.Backends[i].clone()
		}
		lb.Backends = bs
	}
	return lb
}

func (f Frontend) clone() Frontend {
	f.XForwardedFor = clonePtr(f.XForwardedFor)
	// f.Routes is kept: a RouteList's chunks are never changed, so the
	// copy shares them.
	if f.ACLs != nil {
		as := make([]ACL, len(f.ACLs))
		for i, a := range f.ACLs {
			a.Match.IPSubnet = slices.Clone(a.Match.IPSubnet)
			a.Match.HTTPFilterValue = slices.Clone(a.Match.HTTPFilterValue)
			a.Action.Redirect = clonePtr(a.Action.Redirect)
			as[i] = a
		}
		f.ACLs = as
	}
	f.Certificates = slices.Clone(f.Certificates)
	f.AcceptProxyFrom = slices.Clone(f.AcceptProxyFrom)
	f.RequestHeaders = slices.Clone(f.RequestHeaders)
	f.ResponseHeaders = slices.Clone(f.ResponseHeaders)
	f.HTTPSRedirect = clonePtr(f.HTTPSRedirect)
	f.HSTS = clonePtr(f.HSTS)
	return f
}

func (b Backend) clone() Backend {
	if b.Servers != nil {
		ss := make([]Server, len(b.Servers))
		for i, s := range b.Servers {
			s.Weight = clonePtr(s.Weight)
			ss[i] = s
		}
		b.Servers = ss
	}
	b.MaxRetries = clonePtr(b.MaxRetries)
	b.RedispatchAttemptCount = clonePtr(b.RedispatchAttemptCount)
	b.StickySessionsCookieHTTPOnly = clonePtr(b.StickySessionsCookieHTTPOnly)
	b.PassiveHealthCheck = clonePtr(b.PassiveHealthCheck)
	b.Docker = b.Docker.clone()
	if hc := b.HealthCheck; hc != nil {
		h := *hc
		h.TCPConfig = clonePtr(h.TCPConfig)
		if h.HTTPConfig != nil {
			hh := *h.HTTPConfig
			hh.Code = clonePtr(hh.Code)
			h.HTTPConfig = &hh
		}
		if h.HTTPSConfig != nil {
			hh := *h.HTTPSConfig
			hh.Code = clonePtr(hh.Code)
			h.HTTPSConfig = &hh
		}
		h.MySQLConfig = clonePtr(h.MySQLConfig)
		h.PgSQLConfig = clonePtr(h.PgSQLConfig)
		h.RedisConfig = clonePtr(h.RedisConfig)
		h.LDAPConfig = clonePtr(h.LDAPConfig)
		b.HealthCheck = &h
	}
	return b
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
