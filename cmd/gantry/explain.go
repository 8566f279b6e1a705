package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/gantry-lb/gantry/client"
)

// cmdExplain is gantry explain [CONTAINER]: why a container is or is not
// routed (with a live check of its ports), or, without an argument, a line
// per container.
func cmdExplain(args []string, stdout, stderr io.Writer) int {
	g, pos, code := simpleCmd("explain", args, stderr, "table", nil)
	if code >= 0 {
		return code
	}
	return finish(func() error {
		if err := g.check(); err != nil {
			return err
		}
		if len(pos) > 1 {
			return usagef("explain takes one CONTAINER (name, ID or ID prefix), got %q", pos)
		}
		return g.call(func(ctx context.Context, c *client.Client) error {
			out := printer{stdout, g.output}
			if len(pos) == 0 {
				l, err := c.DiscoveredContainers(ctx)
				if err != nil {
					return err
				}
				rows := make([][]string, len(l.Containers))
				for i, dc := range l.Containers {
					rows[i] = []string{dc.Name, shortID(dc.ID), yesNo(dc.Routed), dc.Code, dc.Reason}
				}
				return out.print(l, []string{"CONTAINER", "ID", "ROUTED", "CODE", "REASON"}, rows)
			}
			dc, err := c.ExplainContainer(ctx, pos[0])
			if err != nil {
				return err
			}
			return out.print(dc, nil, explainRows(dc))
		})
	}(), stderr, g)
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// explainRows is one container as key/value lines.
func explainRows(c *client.DiscoveredContainer) [][]string {
	rows := [][]string{
		{"container:", c.Name + " (" + shortID(c.ID) + ")"},
		{"routed:", yesNo(c.Routed)},
		{"why:", c.Code + ": " + c.Reason},
	}
	for _, e := range c.LabelErrors {
		rows = append(rows, []string{"label error:", e})
	}
	state := c.State
	if c.Health != "none" {
		state += ", health " + c.Health
	}
	if c.Stopping {
		state += ", stopping"
	}
	rows = append(rows, []string{"state:", state}, []string{"mode:", c.Mode})
	if c.Project != "" || c.Service != "" {
		rows = append(rows, []string{"project/service:", dash(c.Project) + "/" + dash(c.Service)})
	}
	var nets []string
	for _, n := range c.Networks {
		nets = append(nets, n.Name+" "+dash(n.IP))
	}
	rows = append(rows, []string{"networks:", dash(strings.Join(nets, ", "))}, []string{"ports:", dash(strings.Join(c.Ports, ", "))})
	for _, r := range c.Routes {
		rows = append(rows, []string{"route:", fmt.Sprintf("%s on %s/%s -> backend %s (%s)", routeText(client.Route{Match: &r.Match}), r.LB, r.Frontend, r.Backend, r.Route)})
	}
	for _, s := range c.Servers {
		line := fmt.Sprintf("%s/%s %s: %s, last check %s", s.LB, s.Backend, s.Address, s.State, s.LastCheck)
		if s.CheckReason != "" {
			line += " (" + s.CheckReason + ")"
		}
		rows = append(rows, []string{"server:", line})
	}
	for _, p := range c.PortChecks {
		line := p.Address + " listening"
		if !p.Listening {
			line = p.Address + " not listening: " + p.Error
		}
		rows = append(rows, []string{"port check:", line})
	}
	return rows
}

// discoveryRows are the discovery lines of gantry status.
func discoveryRows(d *client.DiscoveryStatus) [][]string {
	if d == nil {
		return nil
	}
	var rows [][]string
	if d.Provider != "" {
		conn := "connected"
		if !d.Connected {
			conn = "NOT connected (keeping the last-known containers): " + d.Error
		}
		rows = append(rows, []string{"discovery:", d.Provider + " at " + d.Host + ", " + conn},
			[]string{"containers:", fmt.Sprintf("%d seen, %d routed, %d rejected (generation %d, lag %s ms)", d.Containers.Seen, d.Containers.Routed,
				d.Containers.Rejected, d.Generation, strconv.FormatFloat(d.LagMillis, 'f', 1, 64))})
	}
	if f := d.File; f != nil {
		state := "in sync"
		if !f.InSync {
			state = "NOT in sync: " + f.Error
		}
		rows = append(rows, []string{"file:", f.Path + ", " + state + ", serving " + strconv.Itoa(len(f.LBs)) + " load balancer(s)"})
		if f.ApplyError != "" {
			rows = append(rows, []string{"file error:", f.ApplyError})
		}
	}
	for _, e := range d.EntryPoints {
		line := e.Address + " (" + e.LB + "/" + e.Frontend + ")"
		if e.Error != "" {
			line += ": " + e.Error
		}
		rows = append(rows, []string{"entry point:", line})
	}
	if d.ApplyError != "" {
		rows = append(rows, []string{"discovery error:", d.ApplyError})
	}
	return rows
}
