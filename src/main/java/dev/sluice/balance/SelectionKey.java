package dev.sluice.balance;

/**
 * What a selection is about: the client's address bytes (4 or 16; the hash key for {@code
 * source_hash} and the key for persistence). Immutable.
 */
public record SelectionKey(byte[] clientAddress) {}
