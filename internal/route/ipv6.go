package route

// parseIPv6 parses the text form of an IPv6 address without a zone (the
// inside of "[...]" in a Host header) into its 16 bytes. It accepts exactly
// what netip.ParseAddr accepts for a zoneless IPv6 address, including an
// embedded IPv4 tail ("::ffff:192.0.2.1"); the differential test
// TestParseIPv6 and FuzzParseIPv6 hold it to that.
//
// It exists because netip.ParseAddr takes a string, and converting the
// request's []byte would allocate on every request that names an IPv6
// literal; this works on the bytes and never allocates. The algorithm
// follows netip's parseAddrIPv6.
func parseIPv6(s []byte) (ip [16]byte, ok bool) {
	ellipsis := -1 // index in ip where "::" stands
	if len(s) >= 2 && s[0] == ':' && s[1] == ':' {
		ellipsis = 0
		s = s[2:]
		if len(s) == 0 {
			return ip, true
		}
	}
	i := 0
	for i < 16 {
		off := 0
		acc := uint32(0)
	digits:
		for ; off < len(s); off++ {
			c := s[off]
			switch {
			case c >= '0' && c <= '9':
				acc = acc<<4 + uint32(c-'0')
			case c >= 'a' && c <= 'f':
				acc = acc<<4 + uint32(c-'a'+10)
			case c >= 'A' && c <= 'F':
				acc = acc<<4 + uint32(c-'A'+10)
			default:
				break digits
			}
			if off > 3 || acc > 0xffff {
				return ip, false
			}
		}
		if off == 0 {
			return ip, false
		}
		if off < len(s) && s[off] == '.' {
			// An embedded IPv4 address must take the last 32 bits.
			if ellipsis < 0 && i != 12 || i+4 > 16 {
				return ip, false
			}
			if !parseIPv4Fields(s, ip[i:i+4]) {
				return ip, false
			}
			s = nil
			i += 4
			break
		}
		ip[i] = byte(acc >> 8)
		ip[i+1] = byte(acc)
		i += 2
		s = s[off:]
		if len(s) == 0 {
			break
		}
		if s[0] != ':' || len(s) == 1 {
			return ip, false
		}
		s = s[1:]
		if s[0] == ':' {
			if ellipsis >= 0 {
				return ip, false
			}
			ellipsis = i
			s = s[1:]
			if len(s) == 0 {
				break
			}
		}
	}
	if len(s) != 0 {
		return ip, false
	}
	if i < 16 {
		if ellipsis < 0 {
			return ip, false
		}
		n := 16 - i
		for j := i - 1; j >= ellipsis; j-- {
			ip[j+n] = ip[j]
		}
		clear(ip[ellipsis : ellipsis+n])
	} else if ellipsis >= 0 {
		// "::" must stand for at least one group of zeros.
		return ip, false
	}
	return ip, true
}

// parseIPv4Fields parses a dotted-quad with netip's rules (no leading
// zeros, every octet present and at most 255) into fields, which has length 4.
func parseIPv4Fields(s []byte, fields []byte) bool {
	val, pos, digits := 0, 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if digits == 1 && val == 0 {
				return false
			}
			val = val*10 + int(c-'0')
			digits++
			if val > 255 {
				return false
			}
		case c == '.':
			if i == 0 || i == len(s)-1 || s[i-1] == '.' || pos == 3 {
				return false
			}
			fields[pos] = byte(val)
			pos++
			val, digits = 0, 0
		default:
			return false
		}
	}
	if pos < 3 {
		return false
	}
	fields[3] = byte(val)
	return true
}
