package dev.sluice.audit;

import dev.sluice.config.Cidr;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * How much of the public internet an address list admits: the networks of {@code allow} less those
 * of {@code deny}, counted over public unicast space only (IPv4 without the private, shared, loopback,
 * link-local, "this network" and multicast/reserved ranges; IPv6 {@code 2000::/3}). A list is open to
 * the internet when it admits at least 1/256 of either family's public space: {@code 0.0.0.0/0}, but
 * also the same written as {@code [0.0.0.0/1, 128.0.0.0/1]}, or any public {@code /8}, which no list
 * of one's own hosts or gateways needs.
 *
 * <p>Pure and stateless.
 */
final class InternetReach {
  private static final List<Cidr> V4_NOT_PUBLIC = cidrs("0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8",
      "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16", "224.0.0.0/3");
  private static final Cidr V6_PUBLIC = Cidr.parse("2000::/3");
  private static final BigInteger V4_PUBLIC_SIZE =
      BigInteger.ONE.shiftLeft(32).subtract(size(merge(intervals(V4_NOT_PUBLIC))));
  private static final BigInteger V6_PUBLIC_SIZE = V6_PUBLIC.last().subtract(V6_PUBLIC.first()).add(BigInteger.ONE);

  private InternetReach() {}

  /** Whether {@code allow} less {@code deny} admits at least 1/256 of the public IPv4 or IPv6 space. */
  static boolean openToTheInternet(List<Cidr> allow, List<Cidr> deny) {
    List<BigInteger[]> v4 = subtract(family(allow, true), family(deny, true));
    v4 = subtract(v4, intervals(V4_NOT_PUBLIC));
    List<BigInteger[]> v6 = subtract(family(allow, false), family(deny, false));
    v6 = intersect(v6, intervals(List.of(V6_PUBLIC)));
    return size(v4).shiftLeft(8).compareTo(V4_PUBLIC_SIZE) >= 0 || size(v6).shiftLeft(8).compareTo(V6_PUBLIC_SIZE) >= 0;
  }

  private static List<BigInteger[]> family(List<Cidr> cidrs, boolean v4) {
    return merge(intervals(cidrs.stream().filter(c -> c.isV4() == v4).toList()));
  }

  private static List<BigInteger[]> intervals(List<Cidr> cidrs) {
    return cidrs.stream().map(c -> new BigInteger[] {c.first(), c.last()}).toList();
  }

  /** Sorted, disjoint, non-adjacent intervals covering the same addresses. */
  private static List<BigInteger[]> merge(List<BigInteger[]> in) {
    List<BigInteger[]> sorted = new ArrayList<>(in);
    sorted.sort(Comparator.comparing(r -> r[0]));
    List<BigInteger[]> out = new ArrayList<>();
    for (BigInteger[] r : sorted) {
      BigInteger[] last = out.isEmpty() ? null : out.get(out.size() - 1);
      if (last != null && r[0].compareTo(last[1].add(BigInteger.ONE)) <= 0) {
        last[1] = last[1].max(r[1]);
      } else {
        out.add(new BigInteger[] {r[0], r[1]});
      }
    }
    return out;
  }

  private static List<BigInteger[]> subtract(List<BigInteger[]> from, List<BigInteger[]> cut) {
    List<BigInteger[]> out = new ArrayList<>();
    for (BigInteger[] r : from) {
      List<BigInteger[]> pieces = List.<BigInteger[]>of(r);
      for (BigInteger[] c : cut) {
        List<BigInteger[]> next = new ArrayList<>();
        for (BigInteger[] p : pieces) {
          if (c[1].compareTo(p[0]) < 0 || c[0].compareTo(p[1]) > 0) {
            next.add(p);
            continue;
          }
          if (c[0].compareTo(p[0]) > 0) {
            next.add(new BigInteger[] {p[0], c[0].subtract(BigInteger.ONE)});
          }
          if (c[1].compareTo(p[1]) < 0) {
            next.add(new BigInteger[] {c[1].add(BigInteger.ONE), p[1]});
          }
        }
        pieces = next;
      }
      out.addAll(pieces);
    }
    return out;
  }

  private static List<BigInteger[]> intersect(List<BigInteger[]> a, List<BigInteger[]> b) {
    List<BigInteger[]> out = new ArrayList<>();
    for (BigInteger[] x : a) {
      for (BigInteger[] y : b) {
        BigInteger lo = x[0].max(y[0]);
        BigInteger hi = x[1].min(y[1]);
        if (lo.compareTo(hi) <= 0) {
          out.add(new BigInteger[] {lo, hi});
        }
      }
    }
    return out;
  }

  private static BigInteger size(List<BigInteger[]> disjoint) {
    BigInteger n = BigInteger.ZERO;
    for (BigInteger[] r : disjoint) {
      n = n.add(r[1].subtract(r[0]).add(BigInteger.ONE));
    }
    return n;
  }

  private static List<Cidr> cidrs(String... texts) {
    return java.util.Arrays.stream(texts).map(Cidr::parse).toList();
  }
}
