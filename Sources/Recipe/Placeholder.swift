public enum RecipePlaceholderRemoveMe {}
